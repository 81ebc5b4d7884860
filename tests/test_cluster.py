"""Spectra, ranks and argmax on a Dask LocalCluster (issue 17): the
single-machine answers, a killed worker, memory refused before sending."""

import json
import os
import signal

import numpy as np
import pytest

import rankbottleneck as rb

distributed = pytest.importorskip("distributed")
from rankbottleneck.cluster import local_cluster  # noqa: E402

# A worker killed on purpose leaves its connections to this process to the
# garbage collector.
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings(
                  "ignore::pytest.PytestUnraisableExceptionWarning")]


@pytest.fixture(scope="module")
def client():
    c = local_cluster(2, threads_per_worker=1)
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


def _same_spectrum(a, b):
    np.testing.assert_allclose(b.values, a.values, rtol=0, atol=1e-12 * a.values[0])
    for measure in ("numpy", "press", "effective", "gap"):
        assert a.rank(measure) == b.rank(measure), measure


def _layers():
    H, W, b = rb.contexts_and_words(240, 700, 10, has_bias=True, seed=0)
    rng = np.random.default_rng(1)
    K, d = 3, W.shape[1]
    mos = rb.MixtureLayer(W, rng.standard_normal((K, d)),
                          rng.standard_normal((K, d, d)) / np.sqrt(d), bias=b)
    return H, {
        "softmax": rb.PointwiseLayer(W, b),
        "sigsoftmax": rb.PointwiseLayer(W, b, activation="sigsoftmax"),
        "mos": mos,
        "gss float32": rb.PointwiseLayer(W.astype(np.float32), b.astype(np.float32),
                                         activation="gss", params={"c": -1.5, "k": 2.5}),
    }


@pytest.mark.parametrize("name", ["softmax", "sigsoftmax", "mos", "gss float32"])
def test_spectrum_on_the_cluster_is_the_single_machine_spectrum(client, name):
    H, layers = _layers()
    layer = layers[name]
    here = rb.spectrum(layer, H, method="gram")
    there = rb.spectrum(layer, H, method="gram", client=client)
    _same_spectrum(here, there)
    assert "Dask cluster of 2 workers" in there.notes
    if name == "softmax":     # the forced Gram path, against the exact structure
        assert there.rank("press") == 12 == rb.spectrum(layer, H).rank("press")
    assert there.computed_in == here.computed_in


def test_more_contexts_than_words_streams_rows_on_the_cluster(client):
    H, W, _ = rb.contexts_and_words(500, 150, 8, seed=2)
    layer = rb.PointwiseLayer(W, activation="sigsoftmax")
    _same_spectrum(rb.spectrum(layer, H, method="gram"),
                   rb.spectrum(layer, H, method="gram", client=client))


def test_ranks_and_reports_on_the_cluster(client):
    H, layers = _layers()
    layer = layers["mos"]
    for measure in ("numpy", "press"):
        assert (rb.numerical_rank(layer, measure, contexts=H, client=client)
                == rb.numerical_rank(layer, measure, contexts=H))
        assert (rb.shift_invariant_rank(layer, measure, contexts=H, client=client)
                == rb.shift_invariant_rank(layer, measure, contexts=H))
    here = rb.rank_report(layers["sigsoftmax"], contexts=H)
    there = rb.rank_report(layers["sigsoftmax"], contexts=H, client=client)
    for a, b in zip(here.ranks + here.shift_invariant,
                    there.ranks + there.shift_invariant):
        assert a.measure == b.measure
        assert a.value == pytest.approx(b.value, rel=1e-9), a.measure


def test_softmax_needs_no_cluster(client):
    H, W, _ = rb.contexts_and_words(200, 600, 9, seed=3)
    spec = rb.spectrum(rb.PointwiseLayer(W), H, client=client)
    assert spec.method == "structural" and "needs no cluster" in spec.notes
    assert spec.rank("press") == 10


def test_a_matrix_is_not_sent(client):
    with pytest.raises(ValueError, match="pass the layer and its contexts"):
        rb.spectrum(np.ones((3000, 2000)), client=client, method="gram")
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        rb.spectrum(rb.PointwiseLayer(np.eye(3)), np.eye(3), client="tcp://x")


@pytest.mark.parametrize("bias", [False, True])
def test_argmaxable_masks_equal(client, bias):
    rng = np.random.default_rng(4)
    W = rng.standard_normal((400, 4))
    W[7] = W[3]
    b = 0.3 * rng.standard_normal(400) if bias else None
    here = rb.argmaxable(W, b)
    there = rb.argmaxable(W, b, client=client)
    np.testing.assert_array_equal(here.mask, there.mask)
    np.testing.assert_array_equal(here.status, there.status)
    assert len(there.verify(W, b)) == 0 and len(there.undecided) == 0
    under = rb.argmaxable_under(rb.PointwiseLayer(W, b, activation="sigsoftmax"),
                                client=client)
    np.testing.assert_array_equal(under.mask, here.mask)


def _kill_on_first_task(marker, prefix):
    """A worker plugin that SIGKILLs its own worker process as the first task
    whose key names `prefix` (``key_split``, which drops a leading
    underscore) begins to execute, once per cluster.

    The kill is triggered by the run's own progress, not by a clock: it
    lands while that task (and the pass it belongs to) is unfinished however
    fast or slow the machine is. `marker` is created exclusively before the
    kill, so the restarted worker, which gets the plugin again, does not kill
    itself a second time; it records the pid, address and key.
    """
    from distributed import WorkerPlugin
    from distributed.utils import key_split

    class KillOnFirstTask(WorkerPlugin):   # local: cloudpickle sends it by value
        name = "rankbottleneck-test-kill"

        def setup(self, worker):
            self.worker = worker

        def transition(self, key, start, finish, **kwargs):
            if finish != "executing" or key_split(key) != prefix:
                return
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "address": self.worker.address,
                           "key": str(key)}, f)
            os.kill(os.getpid(), signal.SIGKILL)

    return KillOnFirstTask()


def test_a_killed_worker_costs_only_its_blocks(client, tmp_path):
    """SIGKILL one worker process as it starts a task of the first Gram pass:
    the nanny restarts it, the scheduler reruns its tasks, the answer is
    unchanged."""
    H, W, _ = rb.contexts_and_words(200, 6000, 12, seed=5)
    layer = rb.PointwiseLayer(W, activation="sigsoftmax")
    here = rb.spectrum(layer, H, method="gram")
    pids_before = set(client.run(os.getpid).values())
    marker = tmp_path / "killed.json"
    plugin = _kill_on_first_task(str(marker), "gram_columns_task")
    client.register_plugin(plugin)
    try:
        there = rb.spectrum(layer, H, method="gram", client=client, block_cols=500)
    finally:
        client.unregister_worker_plugin(plugin.name)
    killed = json.loads(marker.read_text())
    assert killed["pid"] in pids_before
    # the scheduler's story of the killed task: processing on the killed
    # worker, released unfinished when that worker was lost, then computed
    # again (on the other worker or the restarted one: the killed pid is gone)
    story = client.run_on_scheduler(
        lambda dask_scheduler: [tuple(t[:3]) for t in dask_scheduler.story(
            killed["key"])])
    transitions = [(start, finish) for _, start, finish in story]
    assert ("processing", "released") in transitions, story
    lost = transitions.index(("processing", "released"))
    assert ("processing", "memory") not in transitions[:lost], story
    assert ("processing", "memory") in transitions[lost:], story
    client.wait_for_workers(2, timeout=60)
    pids_after = set(client.run(os.getpid).values())
    assert killed["pid"] not in pids_after and len(pids_after) == 2
    _same_spectrum(here, there)


def test_a_task_too_large_for_a_worker_is_refused_before_it_is_sent():
    # 250 MB: above an idle worker (~110 MB), so the nanny does not restart it
    # while the pass is refused (the task needs about 200 MiB, the refusal
    # line is 70% of the limit)
    small = local_cluster(1, memory_limit="250MB")
    try:
        H, W, _ = rb.contexts_and_words(3000, 4000, 6, seed=6)
        layer = rb.PointwiseLayer(W, activation="sigsoftmax")
        with pytest.raises(rb.InsufficientMemoryError,
                           match=r"per task but the smallest worker has a memory "
                                 r"limit of"):
            rb.spectrum(layer, H, method="gram", client=small)
    finally:
        cluster = small.cluster
        small.close()
        cluster.close()


def test_cli_workers_and_scheduler(tmp_path, capsys):
    from rankbottleneck import cli

    rng = np.random.default_rng(7)
    np.save(tmp_path / "W.npy", rng.standard_normal((300, 8)))
    out_here, out_there = tmp_path / "here", tmp_path / "there"
    assert cli.main(["analyze", str(tmp_path / "W.npy"), "--out", str(out_here)]) == 0
    assert cli.main(["analyze", str(tmp_path / "W.npy"), "--workers", "2",
                     "--out", str(out_there)]) == 0
    import json
    here = json.loads((out_here / "W.npy-analysis.json").read_text())
    there = json.loads((out_there / "W.npy-analysis.json").read_text())
    for act, report in here["log_prob_ranks"].items():
        for measure in ("numpy", "press"):
            assert (report["ranks"][measure]["value"]
                    == there["log_prob_ranks"][act]["ranks"][measure]["value"])
    assert here["argmax"]["unargmaxable_indices"] == there["argmax"][
        "unargmaxable_indices"]
    capsys.readouterr()
    assert cli.main(["analyze", str(tmp_path / "W.npy"), "--scheduler",
                     "tcp://127.0.0.1:9", "--scheduler-timeout", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Dask scheduler answered" in err[0]
    assert cli.main(["analyze", str(tmp_path / "W.npy"), "--scheduler", "x",
                     "--workers", "2"]) == 2
    assert "pass one of them" in capsys.readouterr().err
