"""The rasterizer against a naive ray-casting reference written here (loops over pixels and
triangles, Möller–Trumbore intersection), analytic areas, occlusion, and thread counts."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from openhmr.errors import OpenHMRError
from openhmr.render import Mesh, composite, rasterize, render, render_labels


def ray_cast_reference(vertices, faces, size, focal, principal):
    """Per pixel centre, the nearest triangle hit by the camera ray (ties: lower id)."""
    height, width = size
    ids = np.full(size, -1)
    depth = np.full(size, np.inf)
    for i in range(height):
        for j in range(width):
            d = np.array([(j + 0.5 - principal[0]) / focal, (i + 0.5 - principal[1]) / focal, 1.0])
            for t, (a, b, c) in enumerate(faces):
                e1, e2 = vertices[b] - vertices[a], vertices[c] - vertices[a]
                p = np.cross(d, e2)
                det = e1 @ p
                if abs(det) < 1e-12:
                    continue
                s = -vertices[a]
                u = (s @ p) / det
                q = np.cross(s, e1)
                v = (d @ q) / det
                z = (e2 @ q) / det  # ray parameter = camera-frame Z since d_z = 1
                if u >= 0 and v >= 0 and u + v <= 1 and z < depth[i, j]:
                    ids[i, j], depth[i, j] = t, z
    return ids, depth


def scene(seed: int = 0):
    """Random overlapping triangles in front of the camera, at varied depths and tilts."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([-0.5, -0.5, 2.0], [0.5, 0.5, 4.0], (12, 1, 3))
    vertices = (centres + rng.normal(0, 0.35, (12, 3, 3))).reshape(-1, 3)
    return vertices, np.arange(36).reshape(12, 3)


def test_matches_ray_casting_reference():
    vertices, faces = scene()
    size, focal, principal = (24, 32), 30.0, (15.3, 12.7)
    fragments = rasterize(vertices, faces, size, focal, principal)
    ids, depth = ray_cast_reference(vertices, faces, size, focal, principal)
    np.testing.assert_array_equal(fragments.triangle_id, ids)
    covered = ids >= 0
    assert covered.sum() > 100
    np.testing.assert_allclose(fragments.depth[covered], depth[covered], rtol=1e-5)
    assert np.isinf(fragments.depth[~covered]).all()
    # perspective-correct barycentrics reproduce the 3D hit point's depth
    tri = faces[fragments.triangle_id[covered]]
    z = np.einsum("nk,nk->n", fragments.barycentric[covered], vertices[tri][..., 2])
    np.testing.assert_allclose(z, depth[covered], rtol=1e-5)


def test_nearer_triangle_occludes_whatever_the_order():
    square = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=float)
    near, far = square + np.array([0, 0, 2.0]), square * 2 + np.array([0, 0, 5.0])
    quads = np.array([[0, 1, 2], [0, 2, 3]])
    for first, second, expected in ((near, far, 0), (far, near, 2)):
        vertices = np.concatenate([first, second])
        faces = np.concatenate([quads, quads + 4])
        ids = rasterize(vertices, faces, (20, 20), 10.0).triangle_id
        assert set(np.unique(ids[8:12, 8:12])) <= {expected, expected + 1}


def test_mask_area_of_projected_square_is_analytic():
    """A 1.234 m × 0.777 m rectangle at 3 m through f = 600 covers 246.8 × 155.4 px."""
    w, h, z, f = 1.234, 0.777, 3.0, 600.0
    rect = np.array(
        [[-w / 2, -h / 2, z], [w / 2, -h / 2, z], [w / 2, h / 2, z], [-w / 2, h / 2, z]]
    )
    mask = rasterize(rect, np.array([[0, 1, 2], [0, 2, 3]]), (300, 400), f).mask
    expected = (w * f / z) * (h * f / z)
    perimeter = 2 * (w + h) * f / z
    assert abs(mask.sum() - expected) < perimeter / 2 + 4
    triangle = np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 2.0], [0.0, 0.8, 2.0]])
    tri_mask = rasterize(triangle, np.array([[0, 1, 2]]), (300, 400), 400.0, (50.2, 60.1)).mask
    tri_area = 0.5 * 200 * 160
    assert abs(tri_mask.sum() - tri_area) < (200 + 160 + np.hypot(200, 160)) / 2 + 4


def test_thread_count_does_not_change_results():
    vertices, faces = scene(3)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = rasterize(vertices, faces, (64, 80), 60.0)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = rasterize(vertices, faces, (64, 80), 60.0)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.triangle_id, many.triangle_id)
    np.testing.assert_array_equal(one.depth, many.depth)
    np.testing.assert_array_equal(one.barycentric, many.barycentric)


def test_back_face_culling_and_near_plane():
    toward = np.array([[0, 0, 2.0], [0, 1, 2.0], [1, 0, 2.0]])  # normal −z: faces the camera
    away = toward[[0, 2, 1]]
    face = np.array([[0, 1, 2]])
    assert rasterize(toward, face, (20, 20), 10.0, (0, 0), cull_back_faces=True).mask.any()
    assert not rasterize(away, face, (20, 20), 10.0, (0, 0), cull_back_faces=True).mask.any()
    assert rasterize(away, face, (20, 20), 10.0, (0, 0)).mask.any()
    crossing = toward.copy()
    crossing[0, 2] = 5e-4  # one vertex nearer than near = 1e-3: the triangle is dropped
    assert not rasterize(crossing, face, (20, 20), 10.0, (0, 0)).mask.any()


def test_render_shaded_labels_supersampling_and_composite():
    vertices, faces = scene(5)
    half = len(faces) // 2
    meshes = [
        Mesh(vertices, faces[:half], (1.0, 0.0, 0.0)),
        Mesh(vertices, faces[half:], (0.0, 0.0, 1.0)),
    ]
    smooth = render(meshes, (48, 64), 50.0, supersample=3)
    assert smooth.rgb.shape == (48, 64, 3) and smooth.alpha.shape == (48, 64)
    edge = (smooth.alpha > 0) & (smooth.alpha < 1)
    assert edge.any()  # supersampling gives fractional coverage on edges
    out = render(meshes, (48, 64), 50.0)
    assert set(np.unique(out.alpha)) == {0.0, 1.0}
    red, blue = out.mesh_id == 0, out.mesh_id == 1
    assert red.any() and blue.any()
    assert (out.rgb[red][:, 1:] == 0).all() and (out.rgb[red][:, 0] > 0).all()
    assert (out.rgb[blue][:, :2] == 0).all() and (out.rgb[blue][:, 2] > 0).all()
    labels = render_labels(vertices, faces, np.arange(len(vertices)) // 3, (48, 64), 50.0)
    ids = rasterize(vertices, faces, (48, 64), 50.0).triangle_id
    np.testing.assert_array_equal(labels, ids)  # one label per triangle: labels = ids
    image = np.full((48, 64, 3), 100, np.uint8)
    over = composite(image, out)
    assert (over[out.alpha == 0] == 100).all()
    with pytest.raises(OpenHMRError, match="sizes differ"):
        composite(image[:10], out)


def test_bad_inputs():
    with pytest.raises(OpenHMRError, match="expected vertices"):
        rasterize(np.zeros((3, 2)), np.zeros((1, 3), int), (4, 4), 1.0)
    with pytest.raises(OpenHMRError, match="face ids"):
        rasterize(np.zeros((3, 3)), np.array([[0, 1, 5]]), (4, 4), 1.0)


def test_part_labels_of_the_open_model_follow_anatomy():
    """The 6-part split on the bundled model at rest (T-pose, y up, subject's left on +x)."""
    import torch

    from openhmr.body import load_body_model
    from openhmr.body.parts import PART_NAMES, vertex_part_labels

    model = load_body_model("open", dtype=torch.float64)
    labels = vertex_part_labels(model.data.weights)
    vertices = model.data.v_template
    joints = model().joints[0].numpy()
    part = {name: vertices[labels == i] for i, name in enumerate(PART_NAMES)}
    shoulder_y = joints[[16, 17], 1].mean()
    hip_y = joints[[1, 2], 1].mean()
    assert (part["head"][:, 1] > shoulder_y - 0.1).all()
    assert (part["left_arm"][:, 0] > 0.1).all() and (part["right_arm"][:, 0] < -0.1).all()
    assert (part["left_leg"][:, 0] > -0.02).all() and (part["right_leg"][:, 0] < 0.02).all()
    assert (part["left_leg"][:, 1] < hip_y + 0.15).all()
    counts = np.bincount(labels, minlength=6)
    assert abs(counts[2] - counts[3]) <= 0.02 * counts[2]
    assert abs(counts[4] - counts[5]) <= 0.02 * counts[4]


def test_mesh_only_prediction_grid_holds_no_photo_pixels():
    """photos=False: one row of meshes on plain grey, independent of the input images and of
    the predicted camera, each mesh framed to fill its tile."""
    from openhmr.train.visualize import PLAIN_BACKGROUND, framing_cameras, prediction_grid

    res, rng = 32, np.random.default_rng(0)
    # a tetrahedron in front of the camera, centred in the crop
    vertices = np.array([[[-0.3, -0.3, 0.0], [0.3, -0.3, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, -0.3]]])
    faces = np.array([[0, 1, 2], [0, 2, 3], [1, 3, 2], [0, 3, 1]])
    cameras = np.array([[1.0, 0.0, 0.0]])
    first, second = (rng.integers(0, 256, (1, 3, res, res), dtype=np.uint8) for _ in range(2))
    plain = prediction_grid(first, vertices, cameras, faces, photos=False)
    assert plain.shape == (res, res, 3)
    np.testing.assert_array_equal(plain, prediction_grid(second, vertices, cameras, faces, False))
    elsewhere = np.array([[0.2, 0.5, -0.1]])  # a small, off-centre prediction
    np.testing.assert_array_equal(plain, prediction_grid(first, vertices, elsewhere, faces, False))
    with_photo = prediction_grid(first, vertices, cameras, faces)
    assert with_photo.shape == (2 * res, res, 3)
    np.testing.assert_array_equal(with_photo[:res], first[0].transpose(1, 2, 0))
    # the mesh fills ~90% of the tile's width (its wider side), centred
    _, cols = np.nonzero(~(plain == PLAIN_BACKGROUND).all(axis=-1))
    assert 0.8 * res <= cols.max() - cols.min() + 1 <= res
    assert abs((cols.max() + cols.min()) / 2 - (res - 1) / 2) <= 1.5
    # the framing camera by hand: x-y box [-0.3, 0.3]², centre 0, scale 2 · 0.9 / 0.6
    np.testing.assert_allclose(framing_cameras(vertices), [[3.0, 0.0, 0.0]])
