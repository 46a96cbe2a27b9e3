"""The paper's adversarial training step as a LightningModule with manual optimisation.

Per step (PAPER.md): the encoder/regressor minimises λ·(reprojection + 3D) + adversarial
(Adam, 1e-5), then the discriminator minimises its least-squares loss on mocap against the
detached predictions of all T iterations (Adam, 1e-4), both from the same forward pass.
Lightning owns the loop, devices, DDP, precision, checkpoints and logging.
"""

from __future__ import annotations

import time

import lightning as L
import torch

from openhmr.body import load_body_model
from openhmr.errors import OpenHMRError
from openhmr.evaluate.metrics import joint_errors
from openhmr.losses import LossWeights, discriminator_losses, encoder_losses
from openhmr.model import HMR, Discriminator
from openhmr.model.regressor import default_mean_theta
from openhmr.train.config import TrainConfig


def step_seed(seed: int, step: int, rank: int) -> int:
    """The seed of one optimiser step's randomness (dropout): a function of the step, so a
    resumed run repeats exactly what an uninterrupted run would have drawn."""
    return (seed * 1_000_003 + step * 7919 + rank) % (2**63 - 1)


def parameter_checksums(module: torch.nn.Module) -> torch.Tensor:
    """One float64 number per parameter tensor (its sum), (P,): equal weights give equal sums."""
    return torch.stack([p.detach().double().sum() for p in module.parameters()])


def check_ranks_agree(module: torch.nn.Module, all_gather) -> None:
    """Raise if the ranks' parameters differ.  all_gather: (P,) -> (world, P) (Lightning's)."""
    sums = all_gather(parameter_checksums(module))  # world x P
    differs = ~torch.isclose(sums, sums[:1], rtol=1e-9, atol=0.0).all(dim=0)
    if differs.any():
        first = int(differs.nonzero()[0])
        name = [n for n, _ in module.named_parameters()][first]
        raise OpenHMRError(
            f"DDP: the ranks ended with different weights (first difference in {name}): "
            "their gradients were not averaged"
        )


class HMRTrainingModule(L.LightningModule):
    """Encoder/regressor (`self.model`) and factorized discriminator trained together."""

    def __init__(self, config: TrainConfig, mean_pose: torch.Tensor | None = None) -> None:
        """mean_pose: (24, 3) axis-angle for Θ₀'s pose (its root is replaced, see
        `default_mean_theta`); None: SMPL's rest pose."""
        super().__init__()
        self.automatic_optimization = False
        self.config = config
        m = config.model
        self.model = HMR(
            backbone=m.backbone,
            width=m.width,
            hidden=m.hidden,
            iterations=m.iterations,
            normalization=m.normalization,
            image_size=m.image_size,
            features=m.features,
            orientations=m.orientations,
            feedback=m.feedback,
            root_start=m.root_start,
            body_model=load_body_model(m.body_model),
        )
        if mean_pose is not None:
            with torch.no_grad():
                self.model.regressor.mean_theta.copy_(default_mean_theta(mean_pose)[None])
        if m.encoder_weights:
            from openhmr.model.import_spin import load_imagenet_weights

            if m.backbone != "resnet50":
                raise OpenHMRError("model.encoder_weights: ImageNet files fit backbone resnet50")
            load_imagenet_weights(self.model.encoder, m.encoder_weights)
        self.discriminator = Discriminator()
        if m.init_from:
            self._init_from(m.init_from)
        if m.root_reader_from:
            from openhmr.model.root_reader import load_root_reader_into

            load_root_reader_into(self.model.root_reader, m.root_reader_from)
        if self.model.root_reader is not None:  # read beforehand, frozen
            self.model.root_reader.requires_grad_(False)
        if not config.optim.train_encoder:
            self.model.encoder.requires_grad_(False)
        for layer in self.model.regressor.modules():
            if isinstance(layer, torch.nn.Dropout):
                layer.p = config.optim.regressor_dropout
        self.weights = LossWeights(**config.optim.weights)
        self.save_hyperparameters({"config": config.to_dict()})
        self._clock = time.perf_counter()

    def _init_from(self, path: str) -> None:
        """Copy a checkpoint's network (and discriminator, if it has one) into this module."""
        from openhmr.model import load_checkpoint

        source = load_checkpoint(path)
        theirs, ours = source.model.config.to_dict(), self.model.config.to_dict()
        if theirs != ours:
            differ = {k: (theirs[k], ours[k]) for k in ours if theirs[k] != ours[k]}
            raise OpenHMRError(
                f"model.init_from: {path} holds a different network than this config builds "
                f"(theirs, ours): {differ}"
            )
        self.model.encoder.load_state_dict(source.model.encoder.state_dict())
        self.model.regressor.load_state_dict(source.model.regressor.state_dict())
        if source.model.root_reader is not None:
            self.model.root_reader.load_state_dict(source.model.root_reader.state_dict())
        if source.discriminator is not None:
            self.discriminator.load_state_dict(source.discriminator.state_dict())

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        optim = self.config.optim
        return [
            torch.optim.Adam(
                [p for p in self.model.parameters() if p.requires_grad],
                lr=optim.encoder_lr,
                weight_decay=optim.weight_decay,
            ),
            torch.optim.Adam(
                self.discriminator.parameters(),
                lr=optim.discriminator_lr,
                weight_decay=optim.weight_decay,
            ),
        ]

    def forward(self, images: torch.Tensor, pose_body: str = "all") -> list:
        """uint8 images (B, 3, S, S) → the model's per-iteration outputs (`HMR.forward`)."""
        return self.model(self.model.normalize(images.float() / 255.0), pose_body=pose_body)

    def on_train_epoch_start(self) -> None:
        if not self.config.optim.train_encoder:  # a frozen encoder keeps its batch statistics
            self.model.encoder.eval()

    def predict_batch(self, batch: dict, pose_body: str = "all") -> list:
        """A training batch's images (or, from a feature cache, φ) -> per-iteration outputs."""
        if "features" in batch:
            params = self.model.regress_features(batch["features"])
            return self.model.decode_all(params, pose_body=pose_body)
        return self(batch["image"], pose_body=pose_body)

    def data_step(self, batch_idx: int) -> int:
        """The optimiser step this batch belongs to (Lightning's `global_step` counts each of
        the two optimisers' steps, so it is not used)."""
        return self.current_epoch * self.config.trainer.checkpoint_every_steps + batch_idx

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        step = self.data_step(batch_idx)
        torch.manual_seed(step_seed(self.config.seed, step, self.global_rank))
        images, mocap = batch["images"], batch["mocap"]
        # the losses need the keypoints (the final iteration's, or every one's), not the mesh
        every = self.config.optim.iteration_losses == "all"
        outputs = self.predict_batch(images, pose_body="keypoints-all" if every else "keypoints")
        adversarial = self.config.optim.adversarial
        losses = encoder_losses(
            outputs,
            images["keypoints2d"],
            images["joints3d"][..., :3],
            images["has_3d"],
            images["pose"],
            images["betas"],
            images["has_smpl"],
            discriminator=self.discriminator if adversarial else None,
            weights=self.weights,
            iterations=self.config.optim.iteration_losses,
        )
        terms = {
            "reprojection": losses.reprojection,
            "keypoints3d": losses.keypoints3d,
            "smpl": losses.smpl,
            "adversarial": losses.adversarial,
            "root": losses.root,
        }
        self._check_finite(terms, batch_idx)
        encoder_opt, discriminator_opt = self.optimizers()
        encoder_opt.zero_grad()
        self.manual_backward(losses.total)
        encoder_opt.step()
        logs = {f"train/{k}": v.detach() for k, v in terms.items()}
        logs["train/encoder_total"] = losses.total.detach()
        if adversarial:
            d_total, d_real, d_fake = discriminator_losses(
                self.discriminator, outputs, mocap["pose"], mocap["betas"], self.weights
            )
            self._check_finite({"discriminator": d_total}, batch_idx)
            discriminator_opt.zero_grad()
            self.manual_backward(d_total)
            discriminator_opt.step()
            logs.update(
                {
                    "train/disc_real": d_real.detach(),
                    "train/disc_fake": d_fake.detach(),
                    "train/disc_total": d_total.detach(),
                }
            )
        logs["train/step"] = float(step)
        logs["lr/encoder"] = encoder_opt.param_groups[0]["lr"]
        logs["lr/discriminator"] = discriminator_opt.param_groups[0]["lr"]
        now = time.perf_counter()
        size = len(images["index"])
        logs["train/images_per_second"] = size / max(now - self._clock, 1e-9)
        self._clock = now
        self.log_dict(logs, prog_bar=False, on_step=True, on_epoch=False, batch_size=size)
        self.log("loss", losses.total.detach(), prog_bar=True, on_step=True, logger=False)
        return losses.total.detach()

    def on_train_end(self) -> None:
        """Under DDP, check that every rank ends with the same weights (the gradients of both
        optimisers were averaged across ranks): a per-tensor checksum is compared."""
        if self.trainer.world_size > 1:
            check_ranks_agree(self, self.all_gather)

    def _check_finite(self, terms: dict[str, torch.Tensor], batch_idx: int) -> None:
        for name, value in terms.items():
            if not torch.isfinite(value).all():
                raise OpenHMRError(
                    f"training stopped: loss term {name!r} is {float(value.detach())} at step "
                    f"{self.data_step(batch_idx)} (batch {batch_idx} of epoch "
                    f"{self.current_epoch}); the last good checkpoint is kept "
                    f"in {self.config.out}/checkpoints"
                )

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        final = self(batch["image"])[-1]
        size = batch["image"].shape[0]
        visible = batch["keypoints2d"][..., 2] > 0
        # 2D: mean keypoint error in crop pixels over visible keypoints
        error_px = (
            (final.keypoints2d - batch["keypoints2d"][..., :2]).norm(dim=-1)
            * self.config.model.image_size
            / 2
        )
        self.log(
            "val/keypoint_error_px",
            error_px[visible].mean(),
            batch_size=size,
            on_epoch=True,
            sync_dist=True,
        )
        if bool(batch["has_3d"].all()):
            predicted = final.keypoints3d[:, :14]
            truth = batch["joints3d"][..., :3]
            mpjpe = joint_errors(predicted, truth, "pelvis").mean() * 1000
            pa_mpjpe = joint_errors(predicted, truth, "procrustes").mean() * 1000
            self.log_dict(
                {"val/mpjpe_mm": mpjpe, "val/pa_mpjpe_mm": pa_mpjpe},
                batch_size=size,
                on_epoch=True,
                sync_dist=True,
            )
