fn main() -> anyhow::Result<()> {
    refserver::run(<refserver::Cli as clap::Parser>::parse().args)
}
