"""`openhmr <command>`: the command-line interface.

Every command turns a bad input (`OpenHMRError`) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from openhmr.checks import (
    check_count,
    check_device,
    check_number,
    check_output_file,
    check_output_folder,
)
from openhmr.errors import OpenHMRError

MESH_SUFFIXES = (".obj", ".ply", ".glb")
PW3D_SPLITS = ("train", "validation", "test")


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _add_body(commands: argparse._SubParsersAction) -> None:
    from openhmr.body.poses import POSE_NAMES

    parser = commands.add_parser(
        "body",
        help="build a body from a model file, pose it and write a mesh (.obj, .ply, .glb)",
        description="Build a body (shape β), pose it (a named pose) and write the mesh; the "
        "file name's extension chooses the format: .obj, .ply (binary) or .glb.",
    )
    parser.add_argument(
        "--body-model",
        default="open",
        help="'open' (bundled, default) or a path to an SMPL .pkl / .npz",
    )
    parser.add_argument(
        "--pose", default="walk", choices=POSE_NAMES, help="named pose (default: walk)"
    )
    parser.add_argument(
        "--betas",
        type=_floats,
        default=[],
        help="comma-separated shape coefficients in standard deviations, each within ±10, "
        "e.g. 1.5,-0.5 (default: mean)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --pose random")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/body.obj"),
        help="output mesh: .obj, .ply or .glb (default: out/body.obj)",
    )
    parser.set_defaults(run=_run_body)


BETA_LIMIT = 10.0
"""|β| above this is refused: shape coefficients are in standard deviations of the body
model's shape space (typical bodies lie within ±3; ±10 already gives grotesque ones)."""


def _check_body_args(args: argparse.Namespace) -> None:
    for value in args.betas:
        check_number("--betas", value, minimum=-BETA_LIMIT, maximum=BETA_LIMIT)
    check_output_file("--out", args.out, MESH_SUFFIXES)


def _run_body(args: argparse.Namespace) -> None:
    import torch

    from openhmr.body import load_body_model
    from openhmr.body.poses import named_pose
    from openhmr.inference.export import MESH_WRITERS

    _check_body_args(args)
    model = load_body_model(args.body_model)
    pose = named_pose(args.pose, generator=torch.Generator().manual_seed(args.seed))
    betas = torch.tensor([args.betas], dtype=torch.float32) if args.betas else None
    with torch.no_grad():
        out = model(pose=pose, betas=betas)
    write = MESH_WRITERS[args.out.suffix.lower().lstrip(".")]
    write(args.out, out.vertices[0].numpy(), model.faces.numpy())
    height = float(out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min())
    print(
        f"wrote {args.out}: {model.name}, {model.num_vertices} vertices, "
        f"{model.faces.shape[0]} faces, pose {args.pose!r}, height {height:.2f} m"
    )


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="export the network (image -> Θ for every iteration) to ONNX",
        description="Export the network to ONNX: input 'images' (B, 3, S, S) normalised as the "
        "network expects, output 'params' (B, T, P).",
    )
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx path")
    parser.add_argument(
        "--checkpoint",
        help="'default' (the bundled model), openhmr .safetensors, SPIN model_checkpoint.pt or "
        "HMR's TF model.ckpt-*; without it the untrained network of --backbone is exported",
    )
    parser.add_argument(
        "--backbone",
        default="resnet50",
        choices=("resnet50", "resnet50_v2"),
        help="encoder when no --checkpoint is given (default: resnet50)",
    )
    parser.add_argument(
        "--image-size", type=int, help="input side (default: the network's training size)"
    )
    parser.add_argument(
        "--static-batch", action="store_true", help="fix the batch size instead of dynamic"
    )
    parser.set_defaults(run=_run_export)


def _resolve_checkpoint(spec: str) -> str:
    """A checkpoint path; "default" names the bundled model in every command, as in the demo."""
    from openhmr.inference.predictor import resolve_checkpoint

    return str(resolve_checkpoint(spec))


def _run_export(args: argparse.Namespace) -> None:
    from openhmr.model import HMR, load_checkpoint
    from openhmr.model.export import export_onnx

    check_output_file("--onnx", args.onnx, (".onnx",))
    if args.image_size is not None:
        check_count("--image-size", args.image_size, minimum=32)
    if args.checkpoint:
        model = load_checkpoint(_resolve_checkpoint(args.checkpoint)).model
        source = args.checkpoint
    else:
        model, source = HMR(backbone=args.backbone).eval(), f"untrained {args.backbone}"
    size = model.config.image_size if args.image_size is None else args.image_size
    export_onnx(model, args.onnx, image_size=size, dynamic_batch=not args.static_batch)
    config = model.config
    print(
        f"wrote {args.onnx}: {source}, {config.backbone} + {config.head} head, "
        f"{config.iterations} iterations, input {config.normalization}-normalised "
        f"{size}x{size}"
    )


def _add_convert(commands: argparse._SubParsersAction) -> None:
    from openhmr.data.converters import CONVERTERS

    parser = commands.add_parser(
        "convert",
        help="convert a public dataset's own files to openhmr record indexes",
        description="Convert a dataset to record indexes <out>/<dataset>_<split>.npz "
        "(see docs/data.md for where each dataset's RAW path points).",
    )
    parser.add_argument("dataset", choices=sorted(CONVERTERS), help="dataset kind")
    parser.add_argument("raw", type=Path, help="the dataset's folder or annotation file")
    parser.add_argument("out", type=Path, help="output folder for the indexes")
    parser.add_argument("--image-root", help="image folder (coco, mpii, spin: see docs)")
    parser.add_argument(
        "--holdout",
        type=float,
        help="lspet only: fraction in [0, 1) of the images present held out as a val split",
    )
    parser.add_argument(
        "--split", choices=PW3D_SPLITS, help="3dpw only: train, validation or test (default test)"
    )
    parser.set_defaults(run=_run_convert)


def _convert_options(args: argparse.Namespace) -> dict[str, object]:
    """The converter's keyword arguments; an option that does not apply is an error."""
    options: dict[str, object] = {}
    if args.image_root is not None:
        if args.dataset not in ("coco", "mpii", "spin"):
            raise OpenHMRError(f"--image-root does not apply to {args.dataset}")
        options["image_root"] = args.image_root
    elif args.dataset == "spin":
        raise OpenHMRError("spin: --image-root is required (the dataset's image folder)")
    if args.holdout is not None:
        if args.dataset != "lspet":
            raise OpenHMRError(f"--holdout applies to lspet only, not {args.dataset}")
        options["holdout_fraction"] = check_number("--holdout", args.holdout, minimum=0, below=1)
    if args.split is not None and args.dataset != "3dpw":
        raise OpenHMRError(f"--split applies to 3dpw only, not {args.dataset}")
    if args.dataset == "3dpw":
        options["split"] = args.split or "test"
    return options


def _run_convert(args: argparse.Namespace) -> None:
    from openhmr.data.converters import CONVERTERS
    from openhmr.data.records import load_index

    check_output_folder("out", args.out)
    options = _convert_options(args)
    for path in CONVERTERS[args.dataset](args.raw, args.out, **options):
        index = load_index(path, check_images=False)
        print(
            f"wrote {path}: {len(index)} persons ({index.meta.get('persons_in', len(index))}"
            f" before filtering), 3D: {index.has_3d}, SMPL: {index.pose is not None}"
        )


def _add_mocap(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "mocap",
        help="convert BVH / SMPL .npz mocap into a pose set for the adversarial prior",
        description="Convert BVH (.bvh, .bvh.gz) and SMPL-parameter .npz files, or folders of "
        "them, into one pose set .npz: poses (N, 72) axis-angle, source, sources, meta.",
    )
    parser.add_argument("inputs", nargs="+", help="BVH / .npz files or folders")
    parser.add_argument("--out", type=Path, required=True, help="output pose set .npz")
    parser.add_argument(
        "--fps", type=float, default=10.0, help="resample clips to about this rate (default 10)"
    )
    parser.add_argument(
        "--skeleton",
        default="auto",
        help="auto (default), cgspeed, daz, iclone or a JSON/YAML map file (SMPL -> BVH joint)",
    )
    parser.add_argument(
        "--min-change",
        type=float,
        default=5.0,
        metavar="DEG",
        help="drop poses whose joints all moved less than DEG degrees (default 5; 0 keeps all)",
    )
    parser.add_argument(
        "--body-model",
        default="smpl",
        help="whose T-pose limbs define the zero pose: 'smpl' (built-in SMPL template, "
        "default), 'open' (bundled model) or a model path",
    )
    parser.set_defaults(run=_run_mocap)


def _run_mocap(args: argparse.Namespace) -> None:
    import dataclasses

    from tqdm import tqdm

    from openhmr.data.mocap import build_pose_set, rest_joints, save_pose_set

    check_output_file("--out", args.out, (".npz",))
    check_number("--fps", args.fps, above=0)
    check_number("--min-change", args.min_change, minimum=0)
    template = None if args.body_model == "smpl" else rest_joints(args.body_model)
    pose_set = build_pose_set(
        args.inputs,
        fps=args.fps,
        skeleton=args.skeleton,
        min_change_deg=args.min_change,
        progress=True,
        warn=lambda message: tqdm.write(f"openhmr mocap: {message}", file=sys.stderr),
        template_joints=template,
    )
    pose_set = dataclasses.replace(pose_set, meta={**pose_set.meta, "template": args.body_model})
    save_pose_set(args.out, pose_set)
    meta = pose_set.meta
    skeletons = ", ".join(f"{name} {count}" for name, count in meta["skeletons"].items())
    skipped = f", {len(meta['skipped'])} bad files skipped" if meta["skipped"] else ""
    print(
        f"wrote {args.out}: {len(pose_set)} poses from {meta['files']} files "
        f"({skeletons}){skipped}; "
        f"{meta['frames_in']} frames in, {meta['frames_resampled']} at {args.fps:g} fps, "
        f"{len(pose_set)} after --min-change {args.min_change:g}; {meta['seconds']:.1f} s"
    )


def _add_synth(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "synth",
        help="generate synthetic images with exact 2D/3D/SMPL ground truth",
        description="Render bodies (shapes × poses × cameras) over backgrounds and write "
        "<out>/images/, <out>/annotations/ and the record index <out>/synth.npz. "
        "Deterministic per seed, independent of --workers; re-running fills in what is missing.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--num", type=int, required=True, help="number of samples")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--mocap",
        help="pose set .npz (openhmr mocap / AMASS-style); "
        "default: the built-in sampler within per-joint limits",
    )
    parser.add_argument(
        "--backgrounds", help="folder of background images; default: procedural textures"
    )
    parser.add_argument("--body-model", default="open", help="'open' (default) or a path")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--size", type=int, default=224, help="image side in px (default 224)")
    parser.add_argument(
        "--parts",
        action="store_true",
        help="also write part-label PNGs "
        "(0 background, 1 head, 2 torso, 3/4 left/right arm, 5/6 left/right leg)",
    )
    parser.add_argument(
        "--occluders",
        type=float,
        default=0.25,
        help="probability in [0, 1] of a random occluder per image (default 0.25)",
    )
    parser.set_defaults(run=_run_synth)


def _run_synth(args: argparse.Namespace) -> None:
    import time

    from openhmr.synth import SceneConfig, SynthConfig, generate

    check_output_folder("--out", args.out)
    check_count("--num", args.num)
    check_count("--seed", args.seed, minimum=0)
    check_count("--workers", args.workers)
    check_count("--size", args.size, minimum=64)
    check_number("--occluders", args.occluders, minimum=0, maximum=1)
    scene = SceneConfig.sized(args.size, occluder_prob=args.occluders)
    config = SynthConfig(
        out=str(args.out),
        num=args.num,
        seed=args.seed,
        mocap=args.mocap,
        backgrounds=args.backgrounds,
        body_model=args.body_model,
        parts=args.parts,
        scene=scene,
    )
    start = time.perf_counter()
    path = generate(config, workers=args.workers)
    seconds = time.perf_counter() - start
    print(f"wrote {path}: {args.num} samples in {seconds:.1f} s ({args.num / seconds:.0f}/s)")


def _add_eval(commands: argparse._SubParsersAction) -> None:
    from openhmr.evaluate.protocols import PROTOCOLS

    parser = commands.add_parser(
        "eval",
        help="evaluate a checkpoint on a benchmark protocol (table + JSON)",
        description="Evaluate a checkpoint on a record index under one of the paper's "
        "protocols; print a table and write every number to a JSON file "
        "(see docs/evaluation.md).",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="'default' (the bundled model), openhmr .safetensors, SPIN .pt or HMR TF ckpt",
    )
    parser.add_argument("--protocol", required=True, help=f"one of: {', '.join(PROTOCOLS)}")
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="record index (.npz), or the folder synth/convert wrote it to",
    )
    parser.add_argument("--out", type=Path, help="output JSON (default: out/eval_<protocol>.json)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (32)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--workers", type=int, default=0, help="data loader workers (0)")
    parser.add_argument("--body-model", default="open", help="'open' (default) or a path")
    parser.add_argument(
        "--keypoint-regressor",
        help="(K, V) regressor replacing the model's keypoints, e.g. SPIN's "
        "J_regressor_h36m.npy for numbers comparable to the literature",
    )
    parser.add_argument(
        "--segmentation",
        type=Path,
        help="lsp-seg: the UPi-S1h folder; synthetic: a parts folder (default <split>/parts)",
    )
    parser.add_argument(
        "--part-order",
        help="lsp-seg: comma-separated part names of labels 1..6 in the part files "
        "(default head,torso,right_arm,left_arm,right_leg,left_leg)",
    )
    parser.add_argument("--limit", type=int, help="evaluate only the first N rows")
    parser.add_argument(
        "--refine",
        nargs="?",
        const="movenet",
        metavar="KEYPOINTS",
        help="evaluate predictions fitted to 2D keypoints (docs/fitting.md): 'movenet' (the "
        "default when the flag has no value), 'truth' (the index's own 2D keypoints, to check "
        "the fitting) or a .npz with 'keypoints' (rows, K, 3) in image pixels",
    )
    parser.add_argument(
        "--keypoint-noise",
        type=float,
        default=0.0,
        metavar="PX",
        help="with --refine truth: Gaussian noise (pixels) added to the keypoints (seed 0)",
    )
    parser.add_argument(
        "--fit",
        dest="fit_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a fitting setting (openhmr.fit.FitConfig), e.g. --fit iterations=100",
    )
    parser.set_defaults(run=_run_eval)


def _check_eval_args(args: argparse.Namespace, out: Path) -> None:
    check_output_file("--out", out)
    check_device("--device", args.device)
    check_count("--batch-size", args.batch_size)
    check_count("--workers", args.workers, minimum=0)
    if args.limit is not None:
        check_count("--limit", args.limit)


def _run_eval(args: argparse.Namespace) -> None:
    from openhmr.body import load_body_model
    from openhmr.data.records import index_path, load_index
    from openhmr.evaluate import (
        build_report,
        checkpoint_identity,
        data_identity,
        evaluate_predictions,
        format_table,
        get_protocol,
        predict_index,
        write_report,
    )
    from openhmr.evaluate.protocols import check_index
    from openhmr.evaluate.segmentation import UPI_S1H_PART_ORDER, part_lookup
    from openhmr.model import load_checkpoint
    from openhmr.model.checkpoint import body_model_identity

    protocol = get_protocol(args.protocol)
    out = args.out or Path("out") / f"eval_{protocol.name}.json"
    _check_eval_args(args, out)
    part_order = UPI_S1H_PART_ORDER
    if args.part_order:
        part_order = tuple(p.strip() for p in args.part_order.split(","))
        part_lookup(part_order)  # validates the names
    if protocol.segmentation == "lsp" and args.segmentation is None:
        raise OpenHMRError("protocol lsp-seg needs --segmentation DIR (UPi-S1h annotations)")
    data_path = index_path(args.data)
    index = load_index(data_path)
    check_index(protocol, index, str(data_path))
    total = len(index)
    if args.limit is not None:
        index = index.subset(slice(0, args.limit))
    body_model = load_body_model(
        args.body_model, keypoint_regressor=args.keypoint_regressor, device=args.device
    )
    checkpoint_path = _resolve_checkpoint(args.checkpoint)
    checkpoint = load_checkpoint(checkpoint_path, body_model=body_model)
    predictions = predict_index(
        checkpoint.model, index, args.batch_size, args.device, args.workers, progress=True
    )
    settings = {"batch_size": args.batch_size, "device": args.device, "limit": args.limit}
    if args.refine:
        predictions, settings["refine"] = _refine_for_eval(
            args, predictions, index, body_model, checkpoint.discriminator
        )
    elif args.keypoint_noise or args.fit_options:
        raise OpenHMRError("--keypoint-noise and --fit apply with --refine")
    result = evaluate_predictions(
        protocol,
        predictions,
        index,
        body_model=body_model,
        segmentation_dir=args.segmentation,
        part_order=part_order,
        progress=True,
    )
    identity = body_model_identity(body_model)
    trained = (checkpoint.record.get("body_model") or {}).get("sha256")
    identity["keypoint_regressor"] = args.keypoint_regressor
    identity["matches_checkpoint"] = None if trained is None else trained == identity["sha256"]
    if identity["matches_checkpoint"] is False:
        print(
            f"openhmr eval: warning: body model {identity['name']} differs from the "
            "checkpoint's training body model",
            file=sys.stderr,
        )
    data = data_identity(data_path, index, len(index))
    data["rows"] = total
    report = build_report(
        result,
        checkpoint=checkpoint_identity(checkpoint_path, checkpoint.record),
        data=data,
        body_model=identity,
        settings=settings,
    )
    print(format_table(result))
    write_report(out, report)
    print(f"wrote {out}")


def _refine_for_eval(args, predictions, index, body_model, discriminator):
    """The predictions fitted to --refine's keypoints, and the report's record of the fit."""
    import dataclasses

    from openhmr.evaluate.refine import index_keypoints, refine_predictions
    from openhmr.fit import config_from_options

    config = config_from_options(args.fit_options, "--fit")
    keypoints = index_keypoints(index, args.refine, args.keypoint_noise, progress=True)
    refined, stats = refine_predictions(
        predictions,
        index,
        keypoints,
        body_model,
        discriminator=discriminator,
        config=config,
        progress=True,
    )
    record = {
        "keypoints": args.refine,
        "keypoint_noise_px": args.keypoint_noise,
        "adversarial_prior": discriminator is not None and config.adversarial_weight > 0,
        "config": dataclasses.asdict(config),
        **stats.summary(),
    }
    print(
        f"refined {record['refined_share']:.0%} of {record['rows']} rows in "
        f"{record['seconds']:.1f} s; median keypoint error {record['median_initial_error_px']:.1f}"
        f" -> {record['median_error_px']:.1f} px"
    )
    return refined, record


def _add_train(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train HMR (the paper's adversarial loop, on Lightning)",
        description="Train from a YAML config (configs/*.yaml). Writes <out>/checkpoints/, "
        "<out>/logs/ (CSV, TensorBoard), <out>/images/ (prediction previews) and the final "
        "<out>/model.safetensors. Several GPUs: --devices N (DDP); several machines: "
        "--num-nodes M under torchrun or SLURM (see docs/training.md).",
    )
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/quick.yaml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set trainer.max_steps=100 (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue <out>'s last checkpoint")
    parser.add_argument("--devices", type=int, help="devices per node (trainer.devices)")
    parser.add_argument("--num-nodes", type=int, help="machines (trainer.num_nodes)")
    parser.add_argument("--accelerator", help="cpu, gpu or auto (trainer.accelerator)")
    parser.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    from openhmr.train import load_config, train
    from openhmr.train.validate import check_inputs

    overrides = list(args.overrides)
    for flag, key in (
        ("devices", "trainer.devices"),
        ("num_nodes", "trainer.num_nodes"),
        ("accelerator", "trainer.accelerator"),
    ):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    config = load_config(args.config, overrides)
    check_inputs(config)  # train() checks again; here before the first line is printed
    print(
        f"training {config.out}: global batch {config.global_batch} "
        f"({config.data.batch_size} per device), {config.trainer.max_steps} steps"
    )
    path = train(config, resume=args.resume)
    if path is not None:  # DDP: rank 0 writes the model
        print(f"wrote {path}")


def _add_demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="image, folder of images or video -> meshes, overlays and parameters",
        description="Find the people in an image, a folder of images or a video, predict "
        "their bodies and write overlays, side views, meshes and parameters (docs/demo.md).",
    )
    parser.add_argument(
        "input", nargs="?", help="image, folder or video (default: a bundled example photo)"
    )
    parser.add_argument(
        "--checkpoint",
        help="openhmr .safetensors, SPIN model_checkpoint.pt or HMR TF ckpt "
        "(default: the bundled model, docs/default_model.md)",
    )
    parser.add_argument("--body-model", default="open", help="'open' (default) or a path")
    parser.add_argument(
        "--bbox",
        action="append",
        help="person box x,y,w,h in pixels (skips detection); repeat it for several people",
    )
    parser.add_argument(
        "--keypoints", help="OpenPose JSON: boxes from its keypoints (and, with --refine, the fit)"
    )
    parser.add_argument(
        "--refine",
        action="store_true",
        help="fit each body to 2D keypoints (--keypoints, else the built-in pose network; "
        "docs/fitting.md)",
    )
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=8, help="crops per batch (8)")
    parser.add_argument(
        "--formats", default="obj", help="mesh files, comma-separated: obj, ply, glb (obj)"
    )
    parser.add_argument(
        "--focal", type=float, help="focal length in px, > 0 (default 5000 · max(W, H) / 224)"
    )
    parser.add_argument(
        "--orientations",
        type=int,
        help="1, 2 or 4: read each crop this many ways up and keep the most confident read "
        "(MoveNet encoders: for upside-down people, at that many times the encoder's cost; "
        "default: the checkpoint's, 1 for the bundled model; docs/default_model.md)",
    )
    parser.set_defaults(run=_run_demo)


def _check_demo_args(args: argparse.Namespace) -> None:
    check_output_folder("--out", args.out)
    check_device("--device", args.device)
    check_count("--batch-size", args.batch_size)
    if args.focal is not None:
        check_number("--focal", args.focal, above=0)
    if args.orientations is not None:
        from openhmr.model.movenet_encoder import ORIENTATIONS

        if args.orientations not in ORIENTATIONS:
            expected = ", ".join(map(str, ORIENTATIONS))
            got = args.orientations
            raise OpenHMRError(f"--orientations: expected one of {expected}, got {got}")


def _run_demo(args: argparse.Namespace) -> None:
    from openhmr.inference.command import failure_lines, run_demo_command, summary_line

    _check_demo_args(args)
    summary = run_demo_command(
        args.input,
        args.checkpoint,
        args.body_model,
        args.bbox,
        args.keypoints,
        args.out,
        args.device,
        args.batch_size,
        args.formats,
        args.focal,
        refine=args.refine,
        orientations=args.orientations,
    )
    print(summary_line(summary, args.out))
    for line in failure_lines(summary):
        print(line)


def _add_serve(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="the local web page: upload a photo, see and download the 3D bodies",
        description="Serve the local web page (needs the web extra: pip install -e '.[web]'): "
        "upload a photo, see the overlay, side view and 3D view, download GLB, OBJ and JSON; "
        "API endpoint 'predict' for gradio_client (docs/demo.md).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    parser.add_argument(
        "--checkpoint", help="as for demo (default: the bundled model, docs/default_model.md)"
    )
    parser.add_argument("--body-model", default="open", help="'open' (default) or a path")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    parser.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> None:
    from openhmr.web.app import serve

    serve(args.host, args.port, args.checkpoint, args.body_model, args.device)


class _OneLineParser(argparse.ArgumentParser):
    """argparse's own errors (a missing argument, a bad choice) in one line like every other
    error, pointing at the help instead of printing the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from openhmr import __version__

    parser = _OneLineParser(
        prog="openhmr", description="HMR (End-to-end Recovery of Human Shape and Pose)."
    )
    parser.add_argument("--version", action="version", version=f"openhmr {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for add in (
        _add_body,
        _add_convert,
        _add_synth,
        _add_train,
        _add_mocap,
        _add_export,
        _add_eval,
        _add_demo,
        _add_serve,
    ):
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], None] = args.run
    try:
        run(args)
    except OpenHMRError as err:
        print(f"openhmr {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
