//! Synthetic manifolds: shapes, determinism, and points really on the manifold.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on a broken fixture
#![allow(clippy::needless_range_loop)] // small fixed-size matrix algebra reads clearer with indices

use lid_core::synthetic::benchmark::m2_affine_map;
use lid_core::synthetic::{Benchmark, CurvedEmbedding, Manifold};

fn norm(row: &[f32]) -> f64 {
    row.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn every_manifold_has_its_shape_and_is_deterministic() {
    let mut all: Vec<Manifold> = vec![
        Manifold::Ball { dim: 5 },
        Manifold::Sphere { dim: 3 },
        Manifold::Cube { dim: 4 },
        Manifold::SwissRoll,
        Manifold::CurvedCube {
            dim: 3,
            ambient: 10,
            curvature: 0.5,
            map_seed: 1,
        },
        Manifold::Union {
            pieces: vec![Manifold::Cube { dim: 1 }, Manifold::Sphere { dim: 2 }],
            spacing: 5.0,
        },
    ];
    all.extend(Benchmark::ALL.into_iter().map(Manifold::Benchmark));
    for m in all {
        let a = m.sample(101, 3).unwrap();
        assert_eq!(a.n_points(), 101, "{}", m.name());
        assert_eq!(a.ambient_dim(), m.ambient_dim(), "{}", m.name());
        assert_eq!(a.intrinsic_dim, m.intrinsic_dim());
        assert_eq!(a.local_dims.len(), 101);
        assert_eq!(a.name, m.name());
        let b = m.sample(101, 3).unwrap();
        assert_eq!(a.cloud.as_slice(), b.cloud.as_slice(), "{}", m.name());
        let c = m.sample(101, 4).unwrap();
        assert_ne!(a.cloud.as_slice(), c.cloud.as_slice(), "{}", m.name());
    }
}

#[test]
fn benchmark_table_matches_scikit_dimension() {
    // (name, intrinsic, ambient) from scikit-dimension 0.5.0 BenchmarkManifolds._dict_truth.
    let expected = [
        ("M1_Sphere", 10, 11),
        ("M2_Affine_3to5", 3, 5),
        ("M3_Nonlinear_4to6", 4, 6),
        ("M4_Nonlinear", 4, 8),
        ("M5a_Helix1d", 1, 3),
        ("M5b_Helix2d", 2, 3),
        ("M6_Nonlinear", 6, 36),
        ("M7_Roll", 2, 3),
        ("M8_Nonlinear", 12, 72),
        ("M9_Affine", 20, 20),
        ("M10a_Cubic", 10, 11),
        ("M10b_Cubic", 17, 18),
        ("M10c_Cubic", 24, 25),
        ("M10d_Cubic", 70, 71),
        ("M11_Moebius", 2, 3),
        ("M12_Norm", 20, 20),
        ("M13a_Scurve", 2, 3),
        ("M13b_Spiral", 1, 13),
    ];
    assert_eq!(Benchmark::ALL.len(), expected.len());
    for (b, (name, d, dim)) in Benchmark::ALL.into_iter().zip(expected) {
        assert_eq!(
            (b.name(), b.intrinsic_dim(), b.ambient_dim()),
            (name, d, dim)
        );
        assert_eq!(Benchmark::from_name(name), Some(b));
    }
}

#[test]
fn points_lie_on_their_manifolds() {
    let n = 500;
    let ball = Manifold::Ball { dim: 5 }.sample(n, 1).unwrap();
    assert!((0..n).all(|i| norm(ball.cloud.row(i)) <= 1.0 + 1e-6));
    // Uniform in the ball: the fraction inside radius 0.5^(1/5) is about one half.
    let inner = (0..n)
        .filter(|&i| norm(ball.cloud.row(i)) < 0.5f64.powf(0.2))
        .count();
    assert!((inner as f64 / n as f64 - 0.5).abs() < 0.1, "{inner}");

    for m in [
        Manifold::Sphere { dim: 4 },
        Manifold::Benchmark(Benchmark::M1Sphere),
    ] {
        let s = m.sample(n, 2).unwrap();
        assert!(
            (0..n).all(|i| (norm(s.cloud.row(i)) - 1.0).abs() < 1e-6),
            "{}",
            m.name()
        );
    }

    let cube = Manifold::Cube { dim: 3 }.sample(n, 3).unwrap();
    assert!(cube
        .cloud
        .as_slice()
        .iter()
        .all(|&x| (0.0..=1.0).contains(&x)));

    let roll = Manifold::SwissRoll.sample(n, 4).unwrap();
    for i in 0..n {
        let r = roll.cloud.row(i);
        let t = ((r[0] as f64).powi(2) + (r[2] as f64).powi(2)).sqrt();
        let pi = std::f64::consts::PI;
        assert!((1.5 * pi - 1e-4..=4.5 * pi + 1e-4).contains(&t));
        // The angle equals the radius t (mod 2 pi): (cos t, sin t) = (x, z) / t.
        assert!(((r[0] as f64) / t - t.cos()).abs() < 1e-4);
        assert!((0.0..=21.0).contains(&r[1]));
    }

    let cubic = Manifold::Benchmark(Benchmark::M10aCubic)
        .sample(n, 5)
        .unwrap();
    for i in 0..n {
        let r = cubic.cloud.row(i);
        assert!(r.iter().all(|&x| (0.0..=1.0).contains(&x)));
        assert!(
            r.iter().any(|&x| x == 0.0 || x == 1.0),
            "row {i} not on a face"
        );
    }

    let spiral = Manifold::Benchmark(Benchmark::M13bSpiral)
        .sample(n, 6)
        .unwrap();
    for i in 0..n {
        let r = spiral.cloud.row(i);
        assert!((norm(&r[..2]) - 100.0).abs() < 1e-3);
        assert!(r[3..].iter().all(|&x| x == 0.0));
    }

    let helix = Manifold::Benchmark(Benchmark::M5aHelix1d)
        .sample(n, 7)
        .unwrap();
    for i in 0..n {
        let r = helix.cloud.row(i);
        // (2 + cos 8t) = sqrt(x^2 + y^2) and sin 8t = z, so (rho - 2)^2 + z^2 = 1.
        let rho = norm(&r[..2]);
        assert!(((rho - 2.0).powi(2) + (r[2] as f64).powi(2) - 1.0).abs() < 1e-5);
    }
}

#[test]
fn affine_benchmark_lies_in_its_3d_affine_subspace() {
    let s = Manifold::Benchmark(Benchmark::M2Affine3to5)
        .sample(300, 8)
        .unwrap();
    let (a, b) = m2_affine_map();
    // Least squares p = (A^T A)^{-1} A^T (x - b); the residual must vanish and p lie in [0, 4]^3.
    let mut ata = [[0.0f64; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            ata[i][j] = (0..5).map(|r| a[r][i] * a[r][j]).sum();
        }
    }
    let inv = invert3(ata);
    for i in 0..s.n_points() {
        let row = s.cloud.row(i);
        let y: Vec<f64> = (0..5).map(|r| row[r] as f64 - b[r]).collect();
        let aty: Vec<f64> = (0..3)
            .map(|k| (0..5).map(|r| a[r][k] * y[r]).sum())
            .collect();
        let p: Vec<f64> = (0..3)
            .map(|k| (0..3).map(|j| inv[k][j] * aty[j]).sum())
            .collect();
        for r in 0..5 {
            let fitted: f64 = (0..3).map(|k| a[r][k] * p[k]).sum();
            assert!(
                (fitted - y[r]).abs() < 1e-4,
                "row {i} leaves the affine space"
            );
        }
        assert!(p.iter().all(|&v| (-1e-4..=4.0 + 1e-4).contains(&v)));
    }
}

fn invert3(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let mut inv = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            // Cofactor: delete row j and column i (adjugate = transposed cofactor matrix).
            let r0: Vec<usize> = (0..3).filter(|&r| r != j).collect();
            let c: Vec<usize> = (0..3).filter(|&c| c != i).collect();
            let minor = m[r0[0]][c[0]] * m[r0[1]][c[1]] - m[r0[0]][c[1]] * m[r0[1]][c[0]];
            let sign = if (i + j) % 2 == 0 { 1.0 } else { -1.0 };
            inv[i][j] = sign * minor / det;
        }
    }
    inv
}

#[test]
fn curved_embedding_is_bi_lipschitz() {
    let curvature = 0.6;
    let map = CurvedEmbedding::new(4, 12, curvature, 11).unwrap();
    let mut fx = vec![0.0; 12];
    let mut fy = vec![0.0; 12];
    let mut max_dev: f64 = 0.0;
    for i in 0..200 {
        let x: Vec<f64> = (0..4)
            .map(|k| ((i * 7 + k * 13) % 17) as f64 / 17.0)
            .collect();
        let y: Vec<f64> = (0..4)
            .map(|k| ((i * 5 + k * 3 + 1) % 19) as f64 / 19.0)
            .collect();
        map.map(&x, &mut fx);
        map.map(&y, &mut fy);
        let dx = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        if dx == 0.0 {
            continue;
        }
        let df = fx
            .iter()
            .zip(&fy)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let ratio = df / dx;
        assert!(
            ratio >= 1.0 - curvature - 1e-9 && ratio <= 1.0 + curvature + 1e-9,
            "{ratio}"
        );
        max_dev = max_dev.max((ratio - 1.0).abs());
    }
    // Really curved, not just the linear part.
    assert!(max_dev > 0.05, "{max_dev}");
}

#[test]
fn union_places_pieces_apart_with_their_dimensions() {
    let m = Manifold::Union {
        pieces: vec![Manifold::Cube { dim: 1 }, Manifold::Ball { dim: 3 }],
        spacing: 10.0,
    };
    let s = m.sample(11, 1).unwrap();
    assert_eq!(s.intrinsic_dim, 3);
    assert_eq!(s.ambient_dim(), 3);
    assert_eq!(s.local_dims, [vec![1; 6], vec![3; 5]].concat());
    for i in 0..6 {
        let r = s.cloud.row(i);
        assert!((0.0..=1.0).contains(&r[0]) && r[1] == 0.0 && r[2] == 0.0);
    }
    for i in 6..11 {
        assert!((s.cloud.row(i)[0] - 10.0).abs() <= 1.0 + 1e-6);
    }
}

#[test]
fn bad_parameters_are_errors() {
    assert!(Manifold::Ball { dim: 0 }.sample(10, 0).is_err());
    assert!(Manifold::Cube { dim: 2 }.sample(0, 0).is_err());
    assert!(Manifold::CurvedCube {
        dim: 3,
        ambient: 3,
        curvature: 0.5,
        map_seed: 0
    }
    .sample(10, 0)
    .is_err());
    assert!(Manifold::CurvedCube {
        dim: 3,
        ambient: 5,
        curvature: 1.0,
        map_seed: 0
    }
    .sample(10, 0)
    .is_err());
    assert!(Manifold::Union {
        pieces: vec![],
        spacing: 1.0
    }
    .sample(10, 0)
    .is_err());
    let two = Manifold::Union {
        pieces: vec![Manifold::SwissRoll, Manifold::SwissRoll],
        spacing: 1.0,
    };
    assert!(two.sample(1, 0).is_err());
    let nested = Manifold::Union {
        pieces: vec![two],
        spacing: 1.0,
    };
    assert!(nested.sample(10, 0).is_err());
}
