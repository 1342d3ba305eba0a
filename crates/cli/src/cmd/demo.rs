pub fn run(_cli: &crate::args::Cli, _a: &crate::args::DemoArgs) -> anyhow::Result<u8> { Ok(0) }
