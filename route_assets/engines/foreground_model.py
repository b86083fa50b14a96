"""Install and load the learned foreground model the crop planner uses (imaging/foreground.py).

The weights are IS-Net's (github.com/xuebinqin/DIS, MIT licence per the package's
ThirdPartyLicenses.json), as converted to ONNX fp16 by IMG.LY and published in the npm package
@imgly/background-removal-data. That package as a whole is AGPL-3.0; route_assets neither
vendors nor modifies it: `route-assets install-models` fetches it from the npm registry with
`npm pack`, checks the model's sha256, and writes a converted copy next to the virtual
environment (settings.foreground_model_path()).

The conversion: the exported graph resizes its decoder features to sizes traced at 1024 px,
so it only runs at 1024x1024 (~3 s on one core). Each Resize is rewritten to the scale it
applied at 1024 px, which lets the same weights run at any side that is a multiple of 64.
"""

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from route_assets import settings
from route_assets.imaging.foreground import ForegroundModel

PACKAGE = "@imgly/background-removal-data@1.4.5"
RESOURCE = "/models/medium"  # IS-Net, fp16 weights (88 MB)
MODEL_SHA256 = "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"


class ModelInstallError(RuntimeError):
    pass


def fetch(workdir: Path) -> bytes:
    """The model's ONNX bytes from the npm package (its resources are stored in chunks)."""
    npm = shutil.which("npm")
    if npm is None:
        raise ModelInstallError(
            "npm not found: the foreground model comes from the npm registry. Install Node.js "
            "and npm (Debian: apt-get install npm), then run `route-assets install-models`.")
    done = subprocess.run([npm, "pack", PACKAGE, "--pack-destination", str(workdir),
                           "--silent"], capture_output=True, text=True)
    tarballs = sorted(workdir.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        raise ModelInstallError(f"npm pack {PACKAGE} failed ({done.returncode}): "
                                f"{done.stderr.strip()[-500:]}")
    with tarfile.open(tarballs[0]) as tar:
        def member(name: str) -> bytes:
            f = tar.extractfile(f"package/dist/{name}")
            if f is None:
                raise ModelInstallError(f"{PACKAGE}: dist/{name} missing from the package")
            return f.read()

        resources = json.loads(member("resources.json"))
        if RESOURCE not in resources:
            raise ModelInstallError(f"{PACKAGE}: no {RESOURCE} in dist/resources.json")
        data = b"".join(member(chunk["hash"]) for chunk in resources[RESOURCE]["chunks"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise ModelInstallError(f"{PACKAGE}{RESOURCE}: sha256 {digest}, expected "
                                f"{MODEL_SHA256}; refusing an unknown model")
    return data


def any_size(data: bytes) -> bytes:
    """The graph with every Resize turned from traced sizes into scales (module docstring)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load_from_string(data)
    inferred = shape_inference.infer_shapes(model)
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*inferred.graph.value_info, *inferred.graph.input]}
    producer = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        # sizes = Concat(Slice(Shape(x), 0, 2), Constant([h, w])): the traced output size.
        try:
            concat = producer[node.input[3]]
            hw = numpy_helper.to_array(producer[concat.input[1]].attribute[0].t)
            src = dims[node.input[0]]
        except (IndexError, KeyError) as exc:
            raise ModelInstallError(f"Resize {node.name}: not the traced-size pattern this "
                                    "conversion knows") from exc
        scales = np.array([1, 1, hw[0] / src[2], hw[1] / src[3]], np.float32)
        name = f"{node.name}/scales"
        model.graph.initializer.append(numpy_helper.from_array(scales, name))
        inputs = [node.input[0], "", name]
        del node.input[:]
        node.input.extend(inputs)
    for value in [*model.graph.input, *model.graph.output]:
        shape = value.type.tensor_type.shape.dim
        if len(shape) == 4:
            shape[2].dim_param, shape[3].dim_param = "height", "width"
    del model.graph.value_info[:]
    return model.SerializeToString()


def install(*, force: bool = False, echo: Callable[[str], None] = print) -> Path:
    """Fetch, check and convert the model to settings.foreground_model_path(); idempotent."""
    path = settings.foreground_model_path()
    if path.exists() and not force:
        echo(f"foreground model: {path} (installed)")
        return path
    echo(f"foreground model: fetching {PACKAGE} from the npm registry (136 MB) ...")
    with tempfile.TemporaryDirectory() as tmp:
        data = fetch(Path(tmp))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(any_size(data))
    partial.replace(path)  # a half-written model is never found at the final path
    echo(f"foreground model: {path} ({path.stat().st_size / 1e6:.0f} MB)")
    return path


@cache
def installed() -> ForegroundModel | None:
    """The installed model (loaded once per process), or None when it is not installed."""
    path = settings.foreground_model_path()
    return ForegroundModel(path) if path.exists() else None
