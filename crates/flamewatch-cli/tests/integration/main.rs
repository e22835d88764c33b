//! End-to-end tests of the real `flamewatch` binary, one module per subcommand family.

mod bench;
mod http;
mod profile;
mod record;
