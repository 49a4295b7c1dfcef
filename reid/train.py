"""Train a re-ID embedding with a triplet loss on object views of ScanNet-layout scenes.

``python -m reid.train --data ROOT --variant concat|full|... --out CKPT [--resume]``

With ``--freeze-trunk`` (a pretrained trunk such as DINOv2) the trunk stays fixed except its last
``--unfreeze-blocks`` blocks, which train at a learning rate decayed per layer (``--layer-decay``);
the fixed part's tokens are computed once per view and flip (:mod:`reid.token_cache`, reusable across
seeds with ``--token-cache``), so a step costs the head's time.

Checkpoints every epoch (model config + weights + optimiser + training metadata, written atomically);
``--resume`` continues from CKPT after a kill with no loss of finished epochs. Logs the loss, the
share of active triplets and, with ``--val-data``, a held-out rank-1 per epoch. Uses CUDA + AMP when
present, and DDP when launched with ``torchrun`` (gloo on CPU, nccl on GPU).
"""
import hashlib
import json
import math
import os
import time

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from .cli import ArgumentParser, fail, positive_int, setup_logging
from .crops import DEFAULT_MARGIN
from .data.scannet import SceneError
from .dataset import TripletBatchSampler
from .losses import MINING_STRATEGIES, distance_distillation_loss, triplet_loss
from .token_cache import TokenCacheError, load_or_compute_fixed_tokens
from .model import ReIDConfig, WeightsError, create_model, list_variants
from .views import load_views, scene_folders


def augment(batch, generator, photometric=0.0, fill=None, flips=True, flip=None):
    """The same random flip and brightness/contrast change for every crop kind of one view.

    ``batch``: dict kind -> B x S x S x 3 uint8 tensor; returns float tensors in [0, 255] as uint8.
    ``photometric`` > 0 adds a camera response change per view before that: an exposure gain of
    ``2 ** N(0, photometric)`` stops on all channels and white-balance gains of
    ``2 ** N(0, photometric / 4)`` on red and blue (the model of ``benchmarks/photometric.py``).
    At 0 no extra random numbers are drawn, so earlier recipes give the same batches.
    ``fill`` (R, G, B), with ``photometric`` > 0: pixels of exactly this colour are the masked-out
    part of a crop (the model's ``crop_fill``) and keep it: a camera change acts on the image before
    masking, so the fill must not carry the change (a model could read the gain off it).
    ``flips`` False: no view is mirrored (the same random numbers are drawn).
    ``flip`` (B bool tensor), optional: which views to mirror, drawn by the caller (no number drawn
    for it here).
    """
    any_kind = next(iter(batch.values()))
    size = len(any_kind)
    if flip is None:
        flip = (torch.rand(size, generator=generator) < 0.5) & flips
    gain = 1.0 + (torch.rand(size, generator=generator) - 0.5) * 0.4
    bias = (torch.rand(size, generator=generator) - 0.5) * 30.0
    gains = gain[:, None].expand(size, 3)
    if photometric > 0:
        stops = torch.randn(size, 3, generator=generator) * torch.tensor([photometric / 4, photometric,
                                                                          photometric / 4])
        stops[:, 0] += stops[:, 1]
        stops[:, 2] += stops[:, 1]
        gains = gains * 2.0 ** stops                   # per view: red, green, blue
    keep_fill = photometric > 0 and fill is not None
    out = {}
    for kind, crops in batch.items():
        crops = crops.float()
        crops[flip] = crops[flip].flip(2)
        changed = crops * gains[:, None, None, :] + bias[:, None, None, None]
        if keep_fill:
            filled = (crops == torch.tensor(fill, dtype=crops.dtype)).all(dim=-1, keepdim=True)
            changed = torch.where(filled, crops, changed)
        out[kind] = changed.clamp_(0, 255).to(torch.uint8)
    return out


def learning_rate(step, base, warmup, total):
    """Linear warm-up, then cosine decay to 5 % of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.inference_mode()
def held_out_rank1(model, view_set, device, batch_size=128):
    """Rank-1 across camera passes on a held-out view set: overall and on identical twins."""
    from .evaluate import evaluate_features
    model.eval()
    features = []
    for start in range(0, len(view_set), batch_size):
        chunk = {k: torch.from_numpy(v[start:start + batch_size]) for k, v in view_set.crops.items()}
        features.append(torch.nn.functional.normalize(model(model.prepare_inputs(chunk)).float(), dim=-1).cpu())
    model.train()
    result = evaluate_features(torch.cat(features).numpy(), view_set)
    return result["rank1"], result["rank1_twins"]


@torch.inference_mode()
def held_out_rank1_from_tokens(model, tokens, view_set, device, batch_size=256):
    """:func:`held_out_rank1` from stored fixed-part tokens (``tokens[:, 0]``: the unflipped copy)."""
    from .evaluate import evaluate_features
    model.eval()
    features = [model.forward_fixed_tokens(tokens[start:start + batch_size, 0].permute(1, 0, 2, 3)
                                           .to(device, torch.float32)).float().cpu()
                for start in range(0, len(view_set), batch_size)]
    model.train()
    result = evaluate_features(torch.cat(features).numpy(), view_set)
    return result["rank1"], result["rank1_twins"]


def teacher_features(spec, folders, views, frame_step, device, cache=None):
    """A teacher embedder's features of every training view, unmirrored and mirrored.

    ``spec``: what :meth:`reid.embedder.Embedder.from_spec` reads (a shipped name, a checkpoint, or
    an ensemble ``A+B:W``). Each member cuts its own crops of the same views (its size, kinds, fill
    and margin). ``cache``: an ``.npz`` path; features stored there for these teacher weights and views
    are reused (a resumed run), otherwise computed and written there.

    Returns
    -------
    torch.Tensor, shape (N, 2, D), float32
        Unit rows; ``[:, 1]`` is of the mirrored crops.
    """
    from .ensemble import combine_features
    from .embedder import Embedder
    from .fileio import atomic_output

    teacher = Embedder.from_spec(spec, device=device)
    keys = "\n".join(f"{v.scene} {v.frame} {v.instance_id}" for v in views.views)
    # the weights, not the spec: a checkpoint retrained at the same path is another teacher
    fingerprint = hashlib.sha256(f"{teacher.weights_sha256}\n{keys}".encode()).hexdigest()
    if cache and os.path.exists(cache):
        with np.load(cache) as stored:
            if str(stored["fingerprint"]) == fingerprint:
                return torch.from_numpy(stored["features"])
    parts = []
    for member in getattr(teacher, "members", (teacher,)):   # the views are those of the student (same frame step)
        model = member.model
        member_views = load_views(folders, model.img_size, model.crop_kinds, fill=model.crop_fill,
                                  margin=member.config.crop_margin, frame_step=frame_step)
        parts.append([member.embed_crops({k: np.ascontiguousarray(c[:, :, ::-1]) if mirrored else c
                                          for k, c in member_views.crops.items()}) for mirrored in (False, True)])
    if len(parts) == 1:
        flips = parts[0]
    else:
        flips = [combine_features(parts[0][i], parts[1][i], teacher.weight) for i in (0, 1)]
    features = np.stack(flips, axis=1).astype(np.float32)
    if cache:
        with atomic_output(cache, "wb") as handle:
            np.savez(handle, features=features, fingerprint=np.array(fingerprint), spec=np.array(spec))
    return torch.from_numpy(features)


class FixedTokenHead(torch.nn.Module):
    """The part of a frozen-trunk model that trains, as a module of its own (for DDP): stored
    fixed-part tokens (streams, B, T, D) -> embedding."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return self.model.forward_fixed_tokens(tokens)


def parameter_groups(model, layer_decay):
    """Optimiser groups with an ``lr_scale``: 1 for the head; for a partly unfrozen trunk,
    ``layer_decay ** k`` for the k-th trainable trunk block counted from the last (k = 1) and for the
    trunk's final norm (k = 1)."""
    trunk_ids, groups = set(), []
    blocks = list(getattr(model.trunk, "blocks", []))
    for k, block in enumerate(reversed(blocks), start=1):
        params = [p for p in block.parameters() if p.requires_grad]
        if params:
            groups.append({"params": params, "lr_scale": layer_decay ** k})
    norm = [p for p in getattr(model.trunk, "norm", torch.nn.Identity()).parameters() if p.requires_grad]
    if norm:
        groups.append({"params": norm, "lr_scale": layer_decay})
    for group in groups:
        trunk_ids.update(id(p) for p in group["params"])
    head = [p for p in model.parameters() if p.requires_grad and id(p) not in trunk_ids]
    if head:
        groups.insert(0, {"params": head, "lr_scale": 1.0})
    return groups


def main(argv=None):
    parser = ArgumentParser(prog="python -m reid.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="dataset root(s) with scans/<scene>")
    parser.add_argument("--scenes", nargs="+", help="only these scenes (default: all under --data)")
    parser.add_argument("--val-data", nargs="+", help="held-out root(s) for a per-epoch rank-1")
    parser.add_argument("--variant", choices=list_variants(), help="model variant (default: concat)")
    parser.add_argument("--init-from", metavar="CKPT",
                        help="fine-tune: start from this checkpoint's model (its config and weights, e.g. "
                             "reid/weights/default.pt) with a fresh optimiser and learning-rate schedule; "
                             "the model settings (--variant, --trunk, --img-size, ...) come from it")
    parser.add_argument("--out", required=True, help="checkpoint path, rewritten every epoch")
    parser.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    parser.add_argument("--epochs", type=positive_int, default=20)
    parser.add_argument("--max-minutes", type=float, help="stop after the epoch that passes this time")
    parser.add_argument("--stop-after-epoch", type=positive_int,
                        help="stop after this epoch, keeping the learning-rate schedule of --epochs "
                             "(to change the mining or other settings and --resume from there)")
    parser.add_argument("--instances-per-batch", type=positive_int, default=16, help="P")
    parser.add_argument("--views-per-instance", type=positive_int, default=4, help="K")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--margin", type=float, default=0.2, help="triplet margin on squared distances")
    parser.add_argument("--mining", default="batch-all", choices=MINING_STRATEGIES)
    parser.add_argument("--trunk", default="vit_tiny_patch16_224", help="timm ViT name")
    parser.add_argument("--img-size", type=positive_int, default=112)
    parser.add_argument("--embed-dim", type=positive_int, default=128)
    parser.add_argument("--crop-margin", type=float, metavar="PX",
                        help=f"pixels added on each side of a box before cropping (default {DEFAULT_MARGIN}, the "
                             "paper's; a resumed or fine-tuned model keeps its own)")
    parser.add_argument("--pretrained", action="store_true", help="trunk weights from the local hub cache")
    parser.add_argument("--trunk-weights", help="trunk weights from a local file")
    parser.add_argument("--freeze-trunk", action="store_true",
                        help="keep the trunk fixed (its tokens are computed once per view and flip)")
    parser.add_argument("--unfreeze-blocks", type=int, default=0, metavar="N",
                        help="with --freeze-trunk: the trunk's last N blocks (and final norm) still train")
    parser.add_argument("--layer-decay", type=float, default=1.0,
                        help="learning rate of the k-th unfrozen trunk block from the top: lr * DECAY**k")
    parser.add_argument("--token-cache", metavar="FOLDER",
                        help="with --freeze-trunk: store the fixed tokens here, one file per crop kind, and "
                             "reuse them (other seeds and variants on the same data)")
    parser.add_argument("--trunk-kwargs", default="{}", help="JSON dict for timm.create_model (e.g. depth)")
    parser.add_argument("--frame-step", type=positive_int, default=5, help="use every n-th frame")
    parser.add_argument("--photometric-augment", type=float, default=0.0, metavar="LEVEL",
                        help="per-view exposure (N(0, LEVEL) stops) and white-balance (N(0, LEVEL/4) stops) "
                             "augmentation on top of flip and brightness/contrast (default 0: none)")
    parser.add_argument("--no-flip", dest="flip", action="store_false",
                        help="never mirror a training view (default: half of them are): a mirrored view "
                             "teaches that a neighbour on the left and one on the right look the same, the cue "
                             "that tells side-by-side twins apart")
    parser.add_argument("--distill", metavar="TEACHER",
                        help="also match a teacher's pairwise distances in each batch (relational distillation): "
                             "a shipped name, a checkpoint or an ensemble A+B:W (e.g. "
                             "default+dinov2-concat-full:0.8); its features of every training view are computed "
                             "once and kept in OUT.teacher.npz")
    parser.add_argument("--distill-weight", type=float, default=1.0, metavar="W",
                        help="with --distill: loss = triplet + W x distance distillation (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (epoch lines are still printed)")
    args = parser.parse_args(argv)
    if args.crop_margin is not None and not (args.crop_margin >= 0 and math.isfinite(args.crop_margin)):
        parser.error(f"--crop-margin must be a finite number >= 0, got {args.crop_margin}")
    if args.unfreeze_blocks and not args.freeze_trunk:
        parser.error("--unfreeze-blocks needs --freeze-trunk")
    if args.freeze_trunk and args.photometric_augment:
        parser.error("--photometric-augment needs the crops at every step; with --freeze-trunk only flips are used")
    if not (args.distill_weight >= 0 and math.isfinite(args.distill_weight)):
        parser.error(f"--distill-weight must be a finite number >= 0, got {args.distill_weight}")
    if not (args.photometric_augment >= 0 and math.isfinite(args.photometric_augment)):
        parser.error(f"--photometric-augment must be a finite number >= 0, got {args.photometric_augment}")
    setup_logging(args.quiet)
    try:
        train(args)
    except (SceneError, CheckpointError, WeightsError, TokenCacheError, OSError, ValueError) as error:
        fail(parser.prog, str(error))


def train(args):
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rank, world_size = 0, 1
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world_size = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    main_process = rank == 0
    say = (lambda *a: print(*a, flush=True)) if main_process else (lambda *a: None)
    torch.manual_seed(args.seed)

    checkpoint, initial = None, None
    if args.resume and os.path.exists(args.out):
        checkpoint = load_checkpoint(args.out)
        config = checkpoint.config
        say(f"resuming from {args.out} after epoch {checkpoint.metadata.get('epoch')}")
    elif args.init_from:
        initial = load_checkpoint(args.init_from)
        config = initial.config
        if args.variant and args.variant != config.variant:
            raise ValueError(f"--variant {args.variant} differs from the variant of --init-from "
                             f"{args.init_from} ({config.variant})")
        say(f"fine-tuning {config.variant} from {args.init_from}")
    else:
        config = ReIDConfig(variant=args.variant or "concat", trunk=args.trunk, img_size=args.img_size,
                            embed_dim=args.embed_dim, pretrained=args.pretrained, trunk_weights=args.trunk_weights,
                            trunk_kwargs=json.loads(args.trunk_kwargs), freeze_trunk=args.freeze_trunk,
                            unfrozen_blocks=args.unfreeze_blocks,
                            crop_margin=DEFAULT_MARGIN if args.crop_margin is None else args.crop_margin)
    if args.crop_margin is not None and args.crop_margin != config.crop_margin:
        raise ValueError(f"--crop-margin {args.crop_margin:g} differs from the model's ({config.crop_margin:g} px), "
                         f"which a resumed or fine-tuned model keeps")
    source = checkpoint or initial
    # a frozen-trunk checkpoint holds the head only: its trunk comes from the file it references
    model = create_model(config) if source is None else model_from_checkpoint(source, device="cpu").train()
    model.to(device)

    folders = scene_folders(args.data, args.scenes)
    if not folders:
        raise ValueError(f"no scenes under {' '.join(args.data)}")
    started = time.perf_counter()
    views = load_views(folders, model.img_size, model.crop_kinds, fill=model.crop_fill,
                       margin=config.crop_margin, frame_step=args.frame_step)
    val_views = None
    if args.val_data:
        val_views = load_views(scene_folders(args.val_data), model.img_size, model.crop_kinds, fill=model.crop_fill,
                               margin=config.crop_margin, frame_step=args.frame_step)
    say(f"{len(views)} training views of {len(set((v.scene, v.instance_id) for v in views.views))} instances "
        f"in {len(folders)} scenes" + (f", {len(val_views)} held-out views" if val_views else "")
        + f" ({time.perf_counter() - started:.0f} s)")

    tokens = val_tokens = None
    if config.freeze_trunk and hasattr(model, "forward_fixed_tokens"):
        started = time.perf_counter()
        tokens = load_or_compute_fixed_tokens(model, views.crops, args.token_cache, "train-", device=device)
        if val_views is not None:
            val_tokens = load_or_compute_fixed_tokens(model, val_views.crops, args.token_cache, "val-",
                                                      flips=(False,), device=device)
        say(f"fixed trunk tokens of {len(views)} views x {tokens.shape[1]} flips "
            f"({tokens.numel() * 2 / 2 ** 30:.2f} GiB, {time.perf_counter() - started:.0f} s)")

    teacher = None
    if args.distill:
        started = time.perf_counter()
        teacher = teacher_features(args.distill, folders, views, args.frame_step, device,
                                   cache=str(args.out) + ".teacher.npz")
        say(f"teacher {args.distill}: {teacher.shape[-1]}-d features of {len(views)} views x 2 flips "
            f"({time.perf_counter() - started:.0f} s)")

    sampler = TripletBatchSampler(views.views, args.instances_per_batch, args.views_per_instance, seed=args.seed,
                                  rank=rank, world_size=world_size)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(f"variant {config.variant!r} has nothing to train")
    optimizer = torch.optim.AdamW(parameter_groups(model, args.layer_decay), lr=args.lr,
                                  weight_decay=args.weight_decay)
    metadata = {"epoch": 0, "step": 0, "history": [], "seconds": 0.0}
    if initial is not None:
        metadata["init_from"] = {"path": str(args.init_from), "epoch": initial.metadata.get("epoch"),
                                 "command": initial.metadata.get("command")}
    if checkpoint is not None:
        if checkpoint.optimizer_state:
            optimizer.load_state_dict(checkpoint.optimizer_state)
        metadata = dict(checkpoint.metadata)
    metadata.update({"data": [str(f) for f in folders], "seed": args.seed, "margin": args.margin,
                     "mining": args.mining, "lr": args.lr, "frame_step": args.frame_step,
                     "photometric_augment": args.photometric_augment, "flip_augment": args.flip,
                     "layer_decay": args.layer_decay, "distill": args.distill,
                     "distill_weight": args.distill_weight if args.distill else None,
                     "token_cache": tokens is not None,
                     "batch": [args.instances_per_batch, args.views_per_instance], "world_size": world_size,
                     "command": "python -m reid.train " + " ".join(os.sys.argv[1:])})
    network = FixedTokenHead(model) if tokens is not None else model
    if distributed:
        network = torch.nn.parallel.DistributedDataParallel(network)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    total_steps = args.epochs * len(sampler)
    step, first_epoch = metadata["step"], metadata["epoch"]
    generator = torch.Generator().manual_seed(args.seed * 1000 + rank)
    identities = views.identities()
    session_start = time.perf_counter()
    epochs = range(first_epoch, args.epochs)
    if args.stop_after_epoch and first_epoch >= args.stop_after_epoch:
        say(f"{args.out} is already at epoch {first_epoch}, --stop-after-epoch {args.stop_after_epoch}: nothing to train")
        epochs = range(0)
    for epoch in epochs:
        sampler.set_epoch(epoch)
        generator.manual_seed(args.seed * 1000 + rank + 7919 * epoch)
        losses, active, distill_losses = [], [], []
        epoch_start = time.perf_counter()
        for batch in tqdm(sampler, desc=f"epoch {epoch + 1}/{args.epochs}", disable=not main_process or args.quiet,
                          leave=False):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, args.lr, args.warmup_steps, total_steps) * group.get("lr_scale", 1.0)
            index = torch.as_tensor(batch)
            flip = None
            if tokens is not None:
                flip = torch.randint(tokens.shape[1], (len(index),), generator=generator) * int(args.flip)
                inputs = tokens[index, flip].permute(1, 0, 2, 3).to(device, torch.float32)
            else:
                if teacher is not None:   # drawn here: the teacher's rows must be of the same mirroring
                    flip = (torch.rand(len(index), generator=generator) < 0.5) & args.flip
                crops = augment({k: torch.from_numpy(v)[index] for k, v in views.crops.items()}, generator,
                                photometric=args.photometric_augment, fill=model.crop_fill, flips=args.flip,
                                flip=flip)
                inputs = model.prepare_inputs(crops)
            labels = torch.from_numpy(identities[batch])
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                embeddings = network(inputs)
            result = triplet_loss(embeddings.float(), labels.to(device), margin=args.margin, mining=args.mining)
            loss = result.loss
            if teacher is not None:
                distilled = distance_distillation_loss(embeddings.float(), teacher[index, flip.long()].to(device))
                loss = loss + args.distill_weight * distilled
                distill_losses.append(distilled.item())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            scaler.step(optimizer)
            scaler.update()
            losses.append(result.loss.item())
            active.append(float(result.active_fraction))
            step += 1
        seconds = time.perf_counter() - epoch_start
        views_seen = len(losses) * args.instances_per_batch * args.views_per_instance * world_size
        record = {"epoch": epoch + 1, "step": step, "loss": float(np.mean(losses)), "active": float(np.mean(active)),
                  "seconds": round(seconds, 1), "views_per_s": views_seen / max(seconds, 1e-9)}
        if distill_losses:
            record["distill_loss"] = float(np.mean(distill_losses))
        if val_views is not None and main_process:
            if val_tokens is not None:
                record["val_rank1"], record["val_rank1_twins"] = held_out_rank1_from_tokens(model, val_tokens,
                                                                                            val_views, device)
            else:
                record["val_rank1"], record["val_rank1_twins"] = held_out_rank1(model, val_views, device)
        metadata["history"].append(record)
        metadata.update(epoch=epoch + 1, step=step, seconds=metadata.get("seconds", 0.0) + record["seconds"])
        if main_process:
            save_checkpoint(args.out, model, config, optimizer, metadata)
            say(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
        out_of_time = torch.tensor(float(bool(args.max_minutes)
                                         and time.perf_counter() - session_start > 60 * args.max_minutes))
        if args.stop_after_epoch and epoch + 1 >= args.stop_after_epoch:
            say(f"stopping after epoch {epoch + 1} (--stop-after-epoch)")
            break
        if distributed:
            dist.all_reduce(out_of_time, op=dist.ReduceOp.MAX)  # every rank stops after the same epoch
        if out_of_time.item():
            say(f"stopping after epoch {epoch + 1}: --max-minutes {args.max_minutes} reached")
            break
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
