//! The `cli` test binary: runs the real `runbook` binary on runbooks
//! written to temporary folders or kept in `tests/`, one file per feature.

mod support;

mod audit_trail;
mod examples;
mod fuzz_templates_and_inventory;
mod invalid_runbooks;
mod new_branch_yaml_only;
mod parse_never_panics;
mod schema;
mod valid_runbooks;
mod validate_collects_every_problem;
mod validate_exit_codes;
mod validate_folders;
mod validate_formats;
mod validate_limits;
