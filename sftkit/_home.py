"""One clear ImportError instead of a confusing one when `sftkit` is not this package but a folder named sftkit in
the current directory: a clone, run from the folder that holds it. Python then takes that folder as a namespace
package; an editable install's finder (`pip install -e .`) still supplies sftkit's own modules, but `sftkit.data`
is the clone's data/ folder ("cannot import name 'IGNORE' from 'sftkit.data' (unknown location)"). A module a
student imports by hand (`sftkit.checks`) imports this first.
"""
import sys

_top = sys.modules.get(__name__.rpartition(".")[0])
if _top is not None and getattr(_top, "__file__", None) is None:  # a namespace package: the folder, not sftkit
    _folder = next(iter(getattr(_top, "__path__", [])), "sftkit")
    raise ImportError(f"`import sftkit` found the folder {_folder} (a clone named sftkit in the current directory), "
                      "not the package inside it: start Python from inside the clone (or from any other folder)")
