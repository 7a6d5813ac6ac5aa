//! `lid`: the general tool (`lid estimate`, `lid embed`, `lid knn`).
fn main() -> anyhow::Result<()> {
    anyhow::bail!("the `lid` tool is being written (issues 3 and 4)")
}
