"""Build of fastnet: the C stack (stack/) and the one Cython extension, fastnet._core.

The C sources (every stack/{wire,net,tcp,tcp/cc,mem,core,backend,platform}/*.c, found by glob)
are compiled on their own into a static library, <build_temp>/stack/libfastnet_stack.a, with the
stack's flags: -std=c11 -D_GNU_SOURCE -O2, plus -Wall -Wextra -Werror -Wshadow
-Wstrict-prototypes -Wmissing-prototypes when FASTNET_WERROR=1 (CI).  The Cython-generated
fastnet/_core.c is compiled separately with looser flags (generated code has unused functions
and the like) and linked against that library.

With libxdp and libbpf present (pkg-config) the AF_XDP backend is built in (FN_HAVE_LIBXDP) and
linked against them; with clang present as well, the XDP program
(stack/backend/xdp/fn_xdp_kern.c) is compiled with `clang -O2 -g -target bpf` and installed in
the package as fastnet/fn_xdp_kern.o, whose path the Python layer passes as xdp_obj_path.
Without them the build still succeeds and af_xdp reports "built without libxdp".
"""
import glob
import os
import shutil
import subprocess
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
STACK_DIRS = ["wire", "net", "tcp", "tcp/cc", "mem", "core", "backend", "platform", "socket"]
INCLUDE_DIRS = ["stack/include", "stack"]
BPF_SRC = os.path.join("stack", "backend", "xdp", "fn_xdp_kern.c")
BPF_OBJ = "fn_xdp_kern.o"


def stack_sources():
    srcs = []
    for d in STACK_DIRS:
        srcs += sorted(glob.glob(os.path.join("stack", d, "*.c")))
    return srcs


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.split()


XDP_LIBS = pkg_config("--libs", "libxdp", "libbpf")
XDP_CFLAGS = pkg_config("--cflags", "libxdp", "libbpf") if XDP_LIBS is not None else None
HAVE_XDP = XDP_LIBS is not None and XDP_CFLAGS is not None
WERROR = os.environ.get("FASTNET_WERROR") == "1"

COMMON_CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-O2", "-g", "-fno-strict-aliasing"]
STACK_CFLAGS = list(COMMON_CFLAGS)
if WERROR:
    STACK_CFLAGS += ["-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes",
                     "-Wmissing-prototypes"]
if HAVE_XDP:
    STACK_CFLAGS += ["-DFN_HAVE_LIBXDP"] + XDP_CFLAGS
# Generated code: keep warnings visible but never fatal.
CYTHON_CFLAGS = COMMON_CFLAGS + ["-Wno-unused-function", "-Wno-unused-parameter"]


class BuildExt(build_ext):
    """build_ext that first builds the C stack as a static library with its own flags."""

    def build_extension(self, ext):
        lib = self.build_stack_lib()
        ext.extra_objects = [lib] + [o for o in (ext.extra_objects or []) if o != lib]
        # The freshly archived library is newer than the last link: listing it as a
        # dependency makes build_ext relink instead of keeping a stale extension.
        if lib not in ext.depends:
            ext.depends.append(lib)
        super().build_extension(ext)
        self.build_bpf(os.path.dirname(self.get_ext_fullpath(ext.name)))

    def build_stack_lib(self):
        out_dir = os.path.join(self.build_temp, "stack")
        objects = self.compiler.compile(
            stack_sources(),
            output_dir=out_dir,
            include_dirs=INCLUDE_DIRS,
            extra_postargs=STACK_CFLAGS,
            depends=glob.glob("stack/**/*.h", recursive=True),
        )
        lib = self.compiler.library_filename("fastnet_stack", output_dir=out_dir)
        # Rebuilt every time: a stale archive member (a source file removed since) must not
        # linger, and archiving is cheap next to compiling.
        if os.path.exists(lib):
            os.remove(lib)
        self.compiler.create_static_lib(objects, "fastnet_stack", output_dir=out_dir)
        return lib

    def build_bpf(self, outdir):
        clang = shutil.which("clang")
        if not HAVE_XDP:
            print("fastnet: libxdp/libbpf not found (pkg-config): building without AF_XDP",
                  file=sys.stderr)
            return
        if clang is None:
            print("fastnet: clang not found: the XDP program is not built; af_xdp needs "
                  "xdp_obj_path", file=sys.stderr)
            return
        os.makedirs(outdir, exist_ok=True)
        subprocess.run([clang, "-O2", "-g", "-Wall", "-Werror", "-target", "bpf",
                        "-c", BPF_SRC, "-o", os.path.join(outdir, BPF_OBJ)], check=True)

    def _bpf_built(self):
        return os.path.join(self.build_lib, "fastnet", BPF_OBJ)

    def copy_extensions_to_source(self):
        # --inplace and editable installs build into build_lib and copy the extension back
        # into the source package; the XDP program travels with it.
        super().copy_extensions_to_source()
        if os.path.exists(self._bpf_built()):
            pkg_dir = self.get_finalized_command("build_py").get_package_dir("fastnet")
            self.copy_file(self._bpf_built(), os.path.join(pkg_dir, BPF_OBJ),
                           level=self.verbose)

    def _get_output_mapping(self):
        yield from super()._get_output_mapping()
        if self.inplace and HAVE_XDP and shutil.which("clang"):
            pkg_dir = self.get_finalized_command("build_py").get_package_dir("fastnet")
            yield (self._bpf_built(), os.path.join(pkg_dir, BPF_OBJ))

    def get_outputs(self):
        outs = super().get_outputs()
        if not self.inplace and HAVE_XDP and shutil.which("clang"):
            outs.append(self._bpf_built())
        return outs


ext = Extension(
    "fastnet._core",
    sources=["fastnet/_core.pyx"],
    include_dirs=INCLUDE_DIRS,
    extra_compile_args=CYTHON_CFLAGS,
    libraries=[f[2:] for f in (XDP_LIBS or []) if f.startswith("-l")],
    library_dirs=[f[2:] for f in (XDP_LIBS or []) if f.startswith("-L")],
    depends=glob.glob("fastnet/includes/*.pxd") + glob.glob("stack/include/fastnet/*.h"),
)

setup(
    ext_modules=cythonize(
        [ext],
        language_level=3,
        compiler_directives={"embedsignature": True},
        include_path=[HERE],
    ),
    cmdclass={"build_ext": BuildExt},
)
