//! `lid-experiments`: the reproduction suite.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("the reproduction suite is being written (issues 2 and 5)")
}
