//! Hostile input to the template layer and the inventory reader: any
//! template text or expression compiles or errors, any evaluation returns
//! (bounded by fuel), shell-quoted output never lets a value out of its
//! quotes, and any inventory text parses or errors — never a panic.
//! `scripts/fuzz.sh` runs these with many more cases.

use minijinja::context;
use proptest::prelude::*;
use runbook_engine::inventory;
use runbook_engine::render::Templates;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_template_compiles_or_errors_and_renders_or_errors(source in "\\PC{0,200}", value in "\\PC{0,40}") {
        let mut t = Templates::new();
        if t.add("shell:x".into(), source.clone()).is_ok() {
            let _ = t.render("shell:x", &context! { v => value.clone(), params => context! { a => value } });
        }
    }

    #[test]
    fn any_expression_evaluates_or_errors(expr in "[a-z0-9_.()\\[\\]'\" +*/%<>=!|-]{0,60}") {
        let t = Templates::new();
        let ctx = context! { vars => context! { x => 1, s => "a" }, result => context! { exit_code => 0 } };
        let _ = t.check_expression(&expr);
        let _ = t.eval(&expr, &ctx);
        let _ = t.eval_bool(&expr, &ctx);
    }

    #[test]
    fn interpolated_values_stay_one_shell_word(value in "\\PC{0,60}") {
        let mut t = Templates::new();
        t.add("shell:echo".into(), "printf %s {{ v }}".into()).expect("compiles");
        if let Ok(cmd) = t.render("shell:echo", &context! { v => value.clone() }) {
            let words = shlex::split(&cmd).expect("valid shell words");
            prop_assert_eq!(words.len(), 3);
            prop_assert_eq!(&words[2], &value);
        }
    }

    #[test]
    fn any_inventory_text_parses_or_errors(text in "\\PC{0,300}") {
        let _ = inventory::parse("inv.yaml", &text, None);
        let _ = inventory::parse("inv.yaml", &text, Some("g"));
    }

    #[test]
    fn inventory_shaped_yaml_parses_or_errors(
        names in proptest::collection::vec("[a-z0-9$`;\\-]{1,8}", 1..6),
        ansible in any::<bool>(),
    ) {
        let mut text = String::new();
        if ansible {
            text.push_str("all:\n  hosts:\n");
            for n in &names { text.push_str(&format!("    '{n}': {{ ansible_host: 127.0.0.2, ansible_port: 22 }}\n")); }
            text.push_str("  children:\n    g:\n      hosts:\n");
            for n in &names { text.push_str(&format!("        '{n}':\n")); }
        } else {
            text.push_str("hosts:\n");
            for n in &names { text.push_str(&format!("  '{n}': {{ address: 127.0.0.2 }}\n")); }
        }
        let _ = inventory::parse("inv.yaml", &text, None);
    }
}

#[test]
fn a_template_that_loops_forever_runs_out_of_fuel() {
    let mut t = Templates::new();
    t.add(
        "x".into(),
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}"
            .into(),
    )
    .expect("compiles");
    let err = t.render("x", &context! {}).expect_err("stopped");
    assert!(
        err.message.to_lowercase().contains("fuel"),
        "{}",
        err.message
    );
}
