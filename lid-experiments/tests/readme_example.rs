//! The Rust example of README.md, kept compiling and checked: a 4-d ball gives a mean local
//! dimension near 4 (TwoNN is biased low at L = 64; 20 % tolerance as in docs/validation.md).

use lid_core::estimators::{CdfConvention, PointwiseEstimator, TwoNN};
use lid_core::synthetic::Manifold;
use lid_core::{stats, NeighborSearch, PointCloud};
use lid_knn::BruteForce;

#[test]
fn readme_example_runs_and_estimates_a_ball() -> Result<(), Box<dyn std::error::Error>> {
    let sample = Manifold::Ball { dim: 4 }.sample(1500, 7)?;
    let embeddings = sample.cloud.view().to_owned();

    // --- README example starts here.
    let cloud = PointCloud::from_view(embeddings.view())?; // n x d f32, validated
    let graph = BruteForce::default().knn_graph(&cloud, 64)?; // exact, query excluded
    let lid = TwoNN::new() // discard 0.1
        .cdf(CdfConvention::Skdim034) // the paper's convention
        .estimate_pointwise(&cloud, &graph)?; // one estimate per point
    let mean = stats::mean(&lid.values)?;
    println!("mean LID {mean:.3}");
    // --- README example ends here.

    assert_eq!(lid.values.len(), 1500);
    assert!(
        (mean - 4.0).abs() < 0.2 * 4.0,
        "mean local TwoNN {mean} on a 4-ball"
    );
    Ok(())
}
