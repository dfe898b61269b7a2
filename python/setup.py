"""Builds shmview._shmview against an installed libshmview, found with pkg-config
(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a copy installed under PREFIX). The CMake build of
the tree (python/CMakeLists.txt) builds the same module against the in-tree static library
instead; this is for `pip install ./python`, into a virtual environment for example."""

import subprocess

from setuptools import Extension, setup


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "shmview"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("shmview: libshmview not found with pkg-config (install it, or set "
                         "PKG_CONFIG_PATH to PREFIX/lib/pkgconfig): %s" % e)
    return out.split()


libdirs = pkg_config("--variable=libdir")

setup(
    name="shmview",
    version=pkg_config("--modversion")[0],
    description="Shared-memory segments served by shmviewd, seen through memoryview-style views",
    python_requires=">=3.9",
    packages=["shmview"],
    package_data={"shmview": ["__init__.pyi", "py.typed"]},
    ext_modules=[
        Extension(
            "shmview._shmview",
            sources=["module.c", "client.c", "view.c", "inspect.c", "watch.c", "waitset.c"],
            define_macros=[("_GNU_SOURCE", None)],
            extra_compile_args=pkg_config("--cflags"),
            extra_link_args=pkg_config("--libs"),
            # The library's directory, so that a copy installed under a prefix outside the
            # loader's path is found at import.
            runtime_library_dirs=libdirs,
        )
    ],
    zip_safe=False,
)
