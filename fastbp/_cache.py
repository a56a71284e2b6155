"""Where compiled kernels are stored on disk, keyed on the kernels' sources.

Numba's ``cache=True`` stamps each function's cache with its own file
only, so an edited callee in another module (fastbp inlines small kernels
across modules) would load old machine code. Here every kernel's cache is
stamped with one hash of all kernel modules' sources and the compiler
versions, and lives in a folder named after that hash in a per-user cache
directory, so two versions of fastbp never read, or overwrite, each
other's files and nothing is written into the installed package.

The kernel modules are the package's modules that import ``_jit``, plus
``_jit`` itself, closed over their relative imports; they are found by
scanning the sources when fastbp is imported (well under a millisecond).
"""

import hashlib
import os
import re
import sys
import tempfile
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: concurrent cold processes each compile
    fcntl = None

import llvmlite
import numba
import numpy as np
from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator

PACKAGE_DIR = Path(__file__).parent

# ``from .name import ...`` / ``from . import a, b as c`` (possibly in parentheses)
# at the start of a line; a leading newline instead of ``^`` and MULTILINE is
# 4x faster (0.3 ms for the package)
_RELATIVE_IMPORT = re.compile(rb"\n[ \t]*from[ \t]+\.(\w*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)")


def _relative_imports(source):
    """Names of the sibling modules that ``source`` imports relatively."""
    names = set()
    for module, imported in _RELATIVE_IMPORT.findall(b"\n" + source):
        if module:
            names.add(module.decode())
        else:  # ``from . import a, b``: the imported names may be modules
            for item in re.sub(rb"#[^\n]*", b"", imported).strip(b"()").split(b","):
                if item.split():
                    names.add(item.split()[0].decode())
    return names


def kernel_sources(package_dir=PACKAGE_DIR):
    """The kernel modules' sources, ``{module name: bytes}``, sorted by name.

    Parameters
    ----------
    package_dir : path-like
        The folder of the (flat) package to scan.

    Returns
    -------
    dict
        ``_jit``, the modules that import it, and every module they import
        relatively, directly or not. Empty without a ``_jit.py`` (sources
        not shipped).
    """
    sources = {path.stem: path.read_bytes() for path in Path(package_dir).glob("*.py")}
    imports = {name: _relative_imports(source) & sources.keys() for name, source in sources.items()}
    pending = [name for name, imported in imports.items() if "_jit" in imported or name == "_jit"]
    found = set()
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(imports[name])
    return {name: sources[name] for name in sorted(found)}


def source_hash(sources):
    """Hex digest of the kernel sources and of the compiler stack that builds them."""
    digest = hashlib.sha256()
    for part in (numba.__version__, llvmlite.__version__, np.__version__):
        digest.update(part.encode() + b"\0")
    for name, source in sources.items():
        digest.update(f"{name}\0{len(source)}\0".encode() + source)
    return digest.hexdigest()


def default_cache_base(environ=os.environ, platform=sys.platform):
    """The base folder fastbp caches compiled kernels in, before checking it.

    Parameters
    ----------
    environ : mapping
        Environment variables to read.
    platform : str
        ``sys.platform`` of the system to decide for.

    Returns
    -------
    tuple of (Path or None, bool)
        The folder (None when no location is known) and whether the user
        chose it explicitly: ``FASTBP_CACHE_DIR``, else the ``fastbp``
        folder in ``NUMBA_CACHE_DIR``, else the platform's per-user cache
        folder. Empty variables count as unset.
    """
    if environ.get("FASTBP_CACHE_DIR"):
        return Path(environ["FASTBP_CACHE_DIR"]).expanduser().absolute(), True
    if environ.get("NUMBA_CACHE_DIR"):
        return Path(environ["NUMBA_CACHE_DIR"], "fastbp").expanduser().absolute(), True
    if platform == "win32":
        local = environ.get("LOCALAPPDATA")
        return (Path(local, "fastbp", "Cache") if local else None), False
    home = environ.get("HOME") or os.path.expanduser("~")  # no HOME: the account's home
    if home.startswith("~"):  # no home at all
        return None, False
    if platform == "darwin":
        return Path(home, "Library", "Caches", "fastbp"), False
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path(home, ".cache")  # XDG ignores relative paths
    return base / "fastbp", False


def _writable_folder(path):
    """Create ``path`` if needed; the OSError if it cannot be written, else None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        return exc
    return None


def _resolve():
    """(base folder, this version's folder), both None when caching is off."""
    base, explicit = default_cache_base()
    if base is None or not _SOURCES:  # nowhere to write, or nothing to key the cache on
        return None, None
    folder = base / SOURCE_HASH[:16]
    error = _writable_folder(folder)
    if error is None:
        return base, folder
    if explicit:  # a location the user asked for deserves a word; the default does not
        warnings.warn(
            f"fastbp cannot write its compiled-code cache to {folder} ({error}); "
            "kernels are compiled in memory in this process."
        )
    return None, None


_SOURCES = kernel_sources()
KERNEL_MODULES = tuple(_SOURCES)  # the modules SOURCE_HASH covers
SOURCE_HASH = source_hash(_SOURCES)
_BASE, _FOLDER = _resolve()


def cache_dir():
    """The folder fastbp stores compiled kernels in, or None.

    Returns
    -------
    pathlib.Path or None
        The base folder resolved when fastbp was imported
        (``FASTBP_CACHE_DIR``, else ``$NUMBA_CACHE_DIR/fastbp``, else the
        per-user cache folder, e.g. ``~/.cache/fastbp``). Each version of
        the kernel sources uses its own subfolder. Deleting the folder
        clears the cache. None when no writable folder was found and
        kernels are compiled in memory.
    """
    return _BASE


def folder():
    """This version's cache folder (under :func:`cache_dir`), or None."""
    return _FOLDER


@contextmanager
def _file_lock(path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def compile_lock(name):
    """A lock shared by every process using this cache folder, for compiling ``name``.

    The first process to compile holds it; the others wait, then load what
    it saved instead of compiling too. Without a cache folder, or file
    locks (Windows), it locks nothing.
    """
    if _FOLDER is None or fcntl is None:
        return nullcontext()
    return _file_lock(_FOLDER / f"{name}.lock")


def has_entry(dispatcher, sig):
    """Whether the disk cache holds ``dispatcher``'s machine code for ``sig``."""
    cache = getattr(dispatcher, "_cache", None)
    return isinstance(cache, KernelCache) and cache.has_entry(sig, dispatcher.targetctx)


class _KernelLocator(_CacheLocator):
    """Puts every kernel in this version's folder, stamped with the source hash."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file  # numba names it in its "cannot cache" warning
        self._lineno = py_func.__code__.co_firstlineno

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)

    def get_cache_path(self):
        return str(_FOLDER)

    def get_source_stamp(self):
        return SOURCE_HASH

    def get_disambiguator(self):
        return str(self._lineno)


class _KernelCacheImpl(CompileResultCacheImpl):
    # only fastbp's locator: numba's shared list of locators is left alone
    # (NUMBA_CACHE_LOCATOR_CLASSES, if a user sets it, still takes precedence)
    _locator_classes = [_KernelLocator]


class KernelCache(FunctionCache):
    """Numba's per-function disk cache, located and stamped by fastbp.

    Caching only saves time, so a bad cache never fails a fit: an entry
    that cannot be read (truncated, foreign) is dropped and compiled again,
    and a folder that cannot be written turns the cache off for the kernel.
    Both say so in a warning that names the folder.
    """

    _impl_class = _KernelCacheImpl

    def has_entry(self, sig, target_context):
        """Whether an entry for ``sig`` is on disk (its index is read, not its code)."""
        try:
            return self._index_key(sig, target_context.codegen()) in self._cache_file._load_index()
        except Exception:  # unreadable: loading will find out and compile
            return False

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except OSError:  # no readable folder: saving reports it if it cannot write either
            return None
        except Exception as exc:  # a damaged entry: whatever the damage, compiling again is correct
            warnings.warn(
                f"fastbp found an unreadable compiled-code cache entry in {self.cache_path} "
                f"({exc!r}); the kernel is compiled again and the entry replaced."
            )
            try:
                self.flush()  # an empty index, so saving the new entry does not read the bad one
            except OSError:
                self.disable()
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as exc:
            self.disable()
            warnings.warn(
                f"fastbp cannot write its compiled-code cache to {self.cache_path} ({exc!r}); "
                "the kernel stays compiled in memory in this process."
            )


def attach(dispatcher):
    """Give a numba dispatcher fastbp's disk cache, when there is a folder for it.

    ``cache=True`` would give the dispatcher a ``FunctionCache`` that uses
    numba's own locators (``enable_caching`` sets ``_cache``); this sets the
    same attribute to a :class:`KernelCache` instead.
    """
    if _FOLDER is not None and hasattr(dispatcher, "_cache"):  # not a plain function (NUMBA_DISABLE_JIT)
        dispatcher._cache = KernelCache(dispatcher.py_func)
    return dispatcher
