"""One script per figure: ``python analyses/<name>.py [--quick] [--out DIR]``.

Installed with the package as :mod:`rankbottleneck.analyses`, so that
``rankbottleneck figures`` finds them after a normal (non-editable) install.
"""
