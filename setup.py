"""Build of the optional native extension; the project's metadata lives in pyproject.toml.

`jovay._native._poseidon` (Cython + C) is optional: without Cython or a C compiler, or if compiling
fails, the install still succeeds and jovay runs on the pure-Python twins (jovay/_native/__init__.py
picks). Cython's generated C goes to build/cython, not next to the sources.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE_DIR = "jovay/_native"
# Portable: no -march at all. -march=native would tie the build to the build machine's CPU, and
# -march=x86-64-v2/v3 measured no faster (64 x 64-bit multiply-add code uses no v2/v3 instruction that
# gcc picks here) while gcc < 11 rejects them, which would silently leave the pure path.
COMPILE_ARGS = ["-O3", "-std=c11", "-pthread"]
LINK_ARGS = ["-pthread"]  # batch hashing splits large batches over POSIX threads


def warn(message: str) -> None:
    print(f"jovay: {message}; the pure-Python implementation will be used", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed native build as a warning instead of failing the install."""

    def initialize_options(self) -> None:
        super().initialize_options()
        self.failed: set[str] = set()

    def build_extension(self, ext: Extension) -> None:
        if self.compiler.compiler_type != "unix":  # the C code needs gcc/clang (unsigned __int128)
            self.skip(ext, f"no gcc/clang compiler ({self.compiler.compiler_type})")
            return
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - any build failure means "use the pure path"
            self.skip(ext, f"building it failed ({exc})")

    def skip(self, ext: Extension, why: str) -> None:
        self.failed.add(ext.name)
        warn(f"{ext.name} is not built: {why}")

    def copy_extensions_to_source(self) -> None:
        # In-place builds (editable installs) copy only what was built; older setuptools would fail on
        # the missing file.
        built: list[Extension] = self.extensions  # type: ignore[has-type]  # (untyped in distutils)
        self.extensions = [ext for ext in built if ext.name not in self.failed]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = built


def _native_extension(name: str, c_sources: Sequence[str] = (), threads: bool = False) -> Extension:
    """jovay._native.NAME from NAME.pyx and its C sources (with their headers), optional to build."""
    return Extension(
        f"jovay._native.{name}",
        sources=[f"{NATIVE_DIR}/{name}.pyx", *(f"{NATIVE_DIR}/{c}" for c in c_sources)],
        depends=[f"{NATIVE_DIR}/{c[:-2]}.h" for c in c_sources],
        include_dirs=[NATIVE_DIR],
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=LINK_ARGS if threads else [],
        optional=True,
    )


def native_extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:
        warn("Cython is not installed, so the native extension is not built")
        return []
    extensions = [
        _native_extension("_poseidon", c_sources=["poseidon.c"], threads=True),
        _native_extension("_maker"),  # cimported by _txcodec and _transfers (_maker.pxd)
        _native_extension("_txcodec", c_sources=["keccak.c"]),
        _native_extension("_blockroots", c_sources=["keccak.c"]),
        _native_extension("_transfers", c_sources=["keccak.c"]),  # log blooms
        _native_extension("_blockwrite"),
        _native_extension("_smt"),  # hashes through _poseidon (cimported: _poseidon.pxd)
        _native_extension("_admission"),
    ]
    try:
        return cythonize(extensions, build_dir="build/cython", quiet=True)
    except Exception as exc:  # noqa: BLE001 - a Cython failure also means "use the pure path"
        warn(f"cythonizing failed ({exc})")
        return []


setup(ext_modules=native_extensions(), cmdclass={"build_ext": OptionalBuildExt})
