"""The architecture as tests: layers import only downward, no import cycles, and the backends mirror each other.

See ARCHITECTURE.md. A failure here means a change blurred a layer or let the backends drift apart:
fix the code, or, for a deliberate difference, list it below with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("srapp", "srconvert", "torch_srgan", "keras_srgan", "srcore")
SCRIPTS = ("trains.py", "test.py", "prepare_bsd500.py", "convert_weights.py", "benchmark.py", "make_figures.py")
FRAMEWORKS = ("torch", "torchvision", "tensorflow", "keras", "h5py")

# What each layer may import (project packages and frameworks), top to bottom.
ALLOWED = {
    "srapp": {"srapp", "srconvert", "torch_srgan", "keras_srgan", "srcore"},
    "srconvert": {"srconvert", "torch_srgan", "keras_srgan", "srcore", *FRAMEWORKS},
    "torch_srgan": {"torch_srgan", "srcore", "torch", "torchvision"},
    "keras_srgan": {"keras_srgan", "srcore", "tensorflow", "keras", "h5py"},
    "srcore": {"srcore"},
}

# Deliberate differences between torch_srgan/<module>.py and keras_srgan/<module>.py (public names).
TORCH_ONLY = {
    # nn.Module classes (Keras builds functional models)
    "models": {"DiscBlock", "Discriminator"},  # nn.Module classes (Keras builds functional models)
    "layers": {"run_stack"},  # Keras' conv_stack applies the ReLUs itself (activation="relu")
    # Each architecture: nn.Module classes in torch, one functional-model builder in Keras.
    "archs/srresnet": {"ResidualBlock", "UpsampleBlock", "SRResNet"},
    "archs/srcnn": {"SRCNN"},
    "archs/vdsr": {"VDSR"},
    "archs/__init__": set(),
    "losses": {"vgg19_features"},  # torchvision's module indices, built without torchvision's classifier
    # NCHW; bf16/fp16 through autocast (Keras: dtype policies)
    "device": {"AUTOCAST_DTYPES", "autocast_dtype", "autocast", "uses_channels_last", "place", "to_tensor",
               "to_numpy"},
    "checkpoint": {"LoadedCheckpoint", "load_module_state"},  # one .pth holds everything
    "train": set(),
    "inference": set(),
    "tensorboard": set(),
    "distributed": {"mean_over_workers"},  # Keras averages the logs inside its replicated step
}
KERAS_ONLY = {
    "models": set(),
    # a layer over tf.nn.depth_to_space; the [0, 1] -> [-1, 1] output mapping as a layer (torch: arithmetic)
    "layers": {"PixelShuffle", "to_output_range"},
    "archs/srresnet": {"srresnet"},
    "archs/srcnn": {"srcnn"},
    "archs/vdsr": {"vdsr"},
    "archs/__init__": set(),
    # Keras' own ImageNet VGG19 (caffe input), offered besides torchvision's; the functional loss for tf.function
    # (the --vgg-weights policy itself, KERAS_IMAGENET included, is shared: srcore.vgg_weights)
    "losses": {"CAFFE_MEAN_BGR", "VGG19_NOTOP_FILE", "VGG19_NOTOP_URL", "VGG19_NOTOP_HASH",
               "keras_vgg_cache_path", "vgg_source", "vgg_input", "content_loss"},
    # tf.device strings and Keras dtype policies (torch: autocast dtypes)
    "device": {"on_gpu", "on_device", "DTYPE_POLICIES", "policy_name", "dtype_policy"},
    "checkpoint": {"WEIGHTS_SUFFIX", "STATE_SUFFIX", "META_SUFFIX", "CheckpointFiles", "checkpoint_files",
                   "read_state", "assign_state"},  # three files per checkpoint
    # keras.Model.train_step override; torch's Adam and SGD rules
    "train": {"SRGANModel", "TorchAdam", "TorchSGD", "make_optimizer"},
    # a generator built under one dtype policy run in another: a clone (torch: autocast around the same module)
    "inference": {"FLOAT32_LAYERS", "with_precision"},
    "tensorboard": set(),
    # tf.distribute: the replicas' slices and loss share, the replicated step, Keras' synchronized BN
    "distributed": {"sync_batchnorm", "replica_share", "split_batch", "distributed_step"},
}
# Modules one backend has and the other not yet.
TORCH_ONLY_MODULES: set[str] = set()
# Shared functions whose parameters differ on purpose.
SIGNATURE_EXCEPTIONS = {
    # torch modules are made from channel counts; Keras layers are made by name, and its functional API threads
    # the tensor through the stack
    ("layers", "conv"), ("layers", "prelu"), ("layers", "bn"), ("layers", "conv_stack"),
    ("distributed", "init_distributed_mode"),  # torchrun's environment names the workers; Keras gets a strategy
}


def _py_files() -> list[Path]:
    files = [REPO / s for s in SCRIPTS]
    for pkg in PACKAGES:
        files += sorted((REPO / pkg).rglob("*.py"))
    return files


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (function-level imports too), as dotted names."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
    return out


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in _py_files() if p.parent != REPO}


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_import_only_downward(package: str) -> None:
    bad = []
    known = {*PACKAGES, *FRAMEWORKS}
    for path in sorted((REPO / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in known and top not in ALLOWED[package]:
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_files() -> None:
    modules = _project_modules()
    graph = {m: {d for d in _imports(p) if d in modules and d != m} for m, p in modules.items()}
    # A package's __init__ is imported with any of its modules; only edges into real modules count.
    graph = {m: {d for d in deps if not (REPO / d.replace(".", "/") / "__init__.py").is_file()} for m, deps in
             graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_only_the_application_layer_and_scripts_see_the_command_line() -> None:
    """argparse namespaces stop at srapp: below it, functions take explicit arguments."""
    offenders = []
    for pkg in ("srconvert", "torch_srgan", "keras_srgan", "srcore"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            text = path.read_text()
            if "argparse" in text or "getattr(args" in text:
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders


def _public(path: Path) -> list[tuple[str, ast.AST]]:
    out = []
    for n in ast.parse(path.read_text()).body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            names = [n.name]
        elif isinstance(n, ast.Assign):
            names = [t.id for t in n.targets if isinstance(t, ast.Name)]
            names += [e.id for t in n.targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)]
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            names = [n.target.id]
        else:
            continue
        out += [(x, n) for x in names if not x.startswith("_")]
    return out


def _params(node: ast.AST) -> list[str]:
    assert isinstance(node, ast.FunctionDef)
    a = node.args
    return [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]


@pytest.mark.parametrize("module", sorted(TORCH_ONLY))
def test_backends_mirror_each_other(module: str) -> None:
    """Same module, same public names in the same order, same parameters, except the differences listed above."""
    torch_names = _public(REPO / "torch_srgan" / f"{module}.py")
    keras_names = _public(REPO / "keras_srgan" / f"{module}.py")
    t = {n for n, _ in torch_names}
    k = {n for n, _ in keras_names}
    assert t - k == TORCH_ONLY[module], "torch-only names changed: mirror them or list them in TORCH_ONLY"
    assert k - t == KERAS_ONLY[module], "keras-only names changed: mirror them or list them in KERAS_ONLY"
    shared_t = [(n, node) for n, node in torch_names if n in k]
    shared_k = [(n, node) for n, node in keras_names if n in t]
    assert [n for n, _ in shared_t] == [n for n, _ in shared_k], "shared names in a different order"
    for (name, a), (_, b) in zip(shared_t, shared_k):
        if isinstance(a, ast.FunctionDef) and (module, name) not in SIGNATURE_EXCEPTIONS:
            assert _params(a) == _params(b), f"{module}.{name}: parameters differ"
        if isinstance(a, ast.ClassDef):
            methods_t = {m.name: _params(m) for m in a.body if isinstance(m, ast.FunctionDef)
                         and (not m.name.startswith("_") or m.name == "__init__")}
            methods_k = {m.name: _params(m) for m in b.body if isinstance(m, ast.FunctionDef)  # type: ignore[attr-defined]
                         and (not m.name.startswith("_") or m.name == "__init__")}
            common = methods_t.keys() & methods_k.keys()
            assert ("__init__" in methods_t) == ("__init__" in methods_k), f"{module}.{name}: one has __init__"
            for m in common:
                assert methods_t[m] == methods_k[m], f"{module}.{name}.{m}: parameters differ"


def test_every_module_has_its_sibling() -> None:
    torch_files = {str(p.relative_to(REPO / "torch_srgan")) for p in (REPO / "torch_srgan").rglob("*.py")}
    keras_files = {str(p.relative_to(REPO / "keras_srgan")) for p in (REPO / "keras_srgan").rglob("*.py")}
    assert torch_files - keras_files == TORCH_ONLY_MODULES and keras_files <= torch_files
    mirrored = {f"{m}.py" for m in TORCH_ONLY}  # every module is compared name by name above
    assert torch_files - mirrored <= {"__init__.py"} | TORCH_ONLY_MODULES, "a module missing from TORCH_ONLY"


def test_every_architecture_has_both_implementations() -> None:
    """The architecture registry (srcore) and each backend's implementations have the same keys, and every
    architecture has a built-in spec file of its own."""
    from srcore.arch import ARCHS

    names = set(ARCHS.names())
    assert names == {p.stem for p in (REPO / "srcore" / "archs").glob("[!_]*.py")}
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    from keras_srgan.archs import GENERATORS as KERAS
    from torch_srgan.archs import GENERATORS as TORCH

    assert set(TORCH.names()) == set(KERAS.names()) == names


def test_trainers_offer_the_loop_the_same_methods() -> None:
    """Both Trainers implement srcore.loop.Trainer with the same parameters: their own methods, and those they
    inherit from srcore.loop's shared bases (TrainerCheckpoints: save, restore, load_pretrained)."""
    shared = {c.name: c for c in ast.parse((REPO / "srcore" / "loop.py").read_text()).body
              if isinstance(c, ast.ClassDef)}

    def methods_of(cls: ast.ClassDef) -> dict[str, list[str]]:
        return {n.name: _params(n) for n in cls.body if isinstance(n, ast.FunctionDef)}

    loop = methods_of(shared["Trainer"])
    for backend in ("torch_srgan", "keras_srgan"):
        cls = next(c for c in ast.parse((REPO / backend / "train.py").read_text()).body
                   if isinstance(c, ast.ClassDef) and c.name == "Trainer")
        methods: dict[str, list[str]] = {}
        for base in cls.bases:  # only bases from srcore.loop count: anything else would be a blind spot
            assert isinstance(base, ast.Name) and base.id in shared, f"{backend}.train.Trainer: base {ast.dump(base)}"
            methods.update(methods_of(shared[base.id]))
        methods.update(methods_of(cls))
        for name, params in loop.items():
            assert methods.get(name) == params, f"{backend}.train.Trainer.{name}"


@pytest.mark.parametrize("arch", ["srcnn", "vdsr"])
def test_an_architecture_lives_in_at_most_four_source_files(arch: str) -> None:
    """Its spec, one implementation per backend (and at most one more file, e.g. a conversion layout): no other
    source file names it, not even in a comment (the registries make hand-kept lists unnecessary)."""
    files = [str(p.relative_to(REPO)) for p in _py_files() if arch in p.read_text().lower()]
    assert len(files) <= 4, files
    assert set(files) >= {f"srcore/archs/{arch}.py", f"torch_srgan/archs/{arch}.py", f"keras_srgan/archs/{arch}.py"}
