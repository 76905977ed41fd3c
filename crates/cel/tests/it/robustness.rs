//! Fuzzing the evaluator's entry points with proptest: expressions built from a CEL grammar,
//! random JSON payloads (huge and deep ones included), random bytes and random text. Whatever
//! the input, the engine answers with a value or a typed error; it never panics, hangs, or
//! reports that the interpreter panicked.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tributary_cel::{Activation, CelEngine, CelErrorKind, Limits};

fn engine() -> CelEngine {
    CelEngine::new(Limits {
        max_evaluation_work: 20_000,
        max_payload_bytes: 256 * 1024,
        ..Limits::default()
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z]{0,3}".prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Occasionally enormous: very deep, very wide, or one very long string.
fn payload() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => json_value(),
        1 => (1usize..300).prop_map(|depth| {
            let mut v = json!("leaf");
            for i in 0..depth {
                v = if i % 2 == 0 { json!([v]) } else { json!({ "a": v }) };
            }
            json!({ "a": v })
        }),
        1 => (0usize..20_000).prop_map(|n| json!({ "a": (0..n).collect::<Vec<_>>(), "b": n })),
        1 => (0usize..400_000).prop_map(|n| json!({ "a": "x".repeat(n) })),
    ]
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u32>().prop_map(|u| format!("{u}u")),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        "[a-z ]{0,4}".prop_map(|s| format!("'{s}'")),
        "[a-z]{0,3}".prop_map(|s| format!("b'{s}'")),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("duration('1s')".to_owned()),
        Just("timestamp('2024-01-01T00:00:00Z')".to_owned()),
    ]
}

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        literal(),
        Just("payload".to_owned()),
        Just("payload.a".to_owned()),
        Just("payload.b".to_owned()),
        Just("payload.a.a".to_owned()),
        Just("payload['c']".to_owned()),
        Just("envelope.payload".to_owned()),
        Just("variant".to_owned()),
        Just("x".to_owned()),
        Just("paylod".to_owned()),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    atom().prop_recursive(5, 48, 3, |inner| {
        let binary = prop::sample::select(vec![
            "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "in",
        ]);
        let method = prop::sample::select(vec![
            "size()",
            "lowerAscii()",
            "startsWith('a')",
            "split(',')",
            "reverse()",
            "sort()",
            "join('-')",
            "replace('a', 'bb')",
            "orValue(1)",
            "hasValue()",
            "getFullYear()",
            "distinct()",
            "flatten()",
            "charAt(0)",
            "substring(1)",
            "frobnicate()",
        ]);
        let function = prop::sample::select(vec![
            "size",
            "string",
            "int",
            "uint",
            "double",
            "bytes",
            "type",
            "dyn",
            "timestamp",
            "duration",
            "math.abs",
            "strings.quote",
            "lists.range",
            "optional.of",
            "nope",
        ]);
        let macro_name = prop::sample::select(vec!["map", "filter", "exists", "all", "exists_one"]);
        let two_variable_macro =
            prop::sample::select(vec!["all", "exists", "existsOne", "transformList"]);
        prop_oneof![
            (inner.clone(), binary, inner.clone()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
            (inner.clone(), method).prop_map(|(a, m)| format!("{a}.{m}")),
            (function, inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            (inner.clone(), macro_name, inner.clone())
                .prop_map(|(r, m, body)| format!("{r}.{m}(x, {body})")),
            (inner.clone(), two_variable_macro, inner.clone())
                .prop_map(|(r, m, body)| format!("{r}.{m}(x, y, {body})")),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| format!("{{{k}: {v}}}")),
            inner.clone().prop_map(|a| format!("{a}.?a")),
            inner.clone().prop_map(|a| format!("{a}[0]")),
            inner.clone().prop_map(|a| format!("has({a}.a)")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("cel.bind(y, {a}, [y, {b}])")),
        ]
    })
}

fn assert_no_internal_error(result: Result<impl std::fmt::Debug, tributary_cel::CelError>) {
    if let Err(error) = result {
        assert_ne!(error.kind(), &CelErrorKind::Internal, "{error}");
        // every error can be displayed, with its expression
        assert!(!error.to_string().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn grammar_expressions_over_random_payloads(expr in expression(), payload in payload()) {
        let engine = engine();
        let activation = Activation::new("user", "users", "list", &payload);
        assert_no_internal_error(engine.eval_value(&expr, &activation));
        assert_no_internal_error(engine.eval_filter(&expr, &activation));
        assert_no_internal_error(engine.eval_map(&expr, &activation));
    }

    #[test]
    fn random_text_as_an_expression(expr in "\\PC{0,64}") {
        let engine = engine();
        let payload = json!({"a": 1});
        assert_no_internal_error(engine.eval_value(&expr, &Activation::new("v", "r", "a", &payload)));
    }

    #[test]
    fn random_bytes_as_a_payload(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let engine = engine();
        match engine.parse_payload(&bytes) {
            Ok(payload) => assert_no_internal_error(
                engine.eval_map("", &Activation::new("v", "r", "a", &payload)),
            ),
            Err(error) => {
                let typed = matches!(
                    error.kind(),
                    CelErrorKind::InvalidPayload | CelErrorKind::LimitExceeded { .. }
                );
                prop_assert!(typed, "{}", error);
            }
        }
    }

    #[test]
    fn json_text_as_a_payload(payload in payload()) {
        let engine = engine();
        let bytes = serde_json::to_vec(&payload).unwrap();
        match engine.parse_payload(&bytes) {
            // (serde_json's float parsing may differ in the last digit: compare shapes)
            Ok(parsed) => prop_assert_eq!(parsed.is_object(), payload.is_object()),
            Err(error) => {
                let limited = matches!(error.kind(), CelErrorKind::LimitExceeded { .. });
                prop_assert!(limited, "{}", error);
            }
        }
    }
}

/// A token repeated `n` times around a seed: the shapes that nest the parser or the AST.
fn nesting_text() -> impl Strategy<Value = String> {
    let opener = prop::sample::select(vec![
        ("(", ")"),
        ("[", "]"),
        ("{'a': ", "}"),
        ("size(", ")"),
        ("f(", ")"),
        ("!", ""),
        ("-", ""),
        ("-(", ")"),
        ("", ".a"),
        ("", ".size()"),
        ("", " + 1"),
        ("", " - 1"),
        ("", " < 1"),
        ("", " in [1]"),
        ("", " || true"),
        ("", " && x"),
        ("true ? 1 : ", ""),
        ("[?", "]"),
        ("'", ""),
        ("r'", "'"),
        ("", " // ("),
    ]);
    (
        prop::collection::vec((opener, 1usize..20_000), 1..4),
        prop::sample::select(vec!["1", "payload", "x", "true", "'s'", ""]),
        any::<bool>(),
    )
        .prop_map(|(parts, seed, close)| {
            let mut text = String::new();
            let mut closers = String::new();
            for ((open, close_with), n) in &parts {
                text.push_str(&open.repeat(*n));
                closers.insert_str(0, &close_with.repeat(*n));
            }
            text.push_str(seed);
            if close {
                text.push_str(&closers);
            }
            text
        })
}

/// Growth in every form the library offers, nested: each step multiplies the size. `$` is the
/// previous step's value.
fn growth_expression() -> impl Strategy<Value = String> {
    let step = prop::sample::select(vec![
        "$ + $ + $ + $ + $ + $ + $ + $",
        "[$, $, $, $, $, $, $, $]",
        "{'a': $, 'b': $, 'c': $, 'd': $}",
        "lists.range(100).map(i, $)",
        "lists.range(100).map(i, $).join('')",
        "$.replace('x', 'xxxxxxxx')",
        "'%s%s%s%s%s%s%s%s'.format([$, $, $, $, $, $, $, $])",
        "$.split('')",
        "[$, $].flatten()",
        "lists.range(size($))",
        "lists.range(100).map(i, $).distinct()",
        "lists.range(100).map(i, [i, $]).distinct()",
        "[$, $].sort()",
        "lists.range(size($)).sortBy(i, -i)",
        "strings.quote($)",
        "$.transformList(i, x, [x, x])",
    ]);
    (
        prop::sample::select(vec![
            "payload.s",
            "payload.list",
            "'x'",
            "lists.range(1000)",
        ]),
        prop::collection::vec(step, 1..7),
    )
        .prop_map(|(seed, steps)| {
            let mut expr = format!("size(v{}) >= 0", steps.len() - 1);
            for (level, step) in steps.iter().enumerate().rev() {
                let operand = if level == 0 {
                    seed.to_owned()
                } else {
                    format!("v{}", level - 1)
                };
                let value = step.replace('$', &operand);
                expr = format!("cel.bind(v{level}, {value}, {expr})");
            }
            expr
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Deep or long text is refused (or, for balanced `||`/`&&` chains, accepted) on a thread
    /// with a 128 KiB stack, whether or not the length limit applies.
    #[test]
    fn deeply_nested_text_never_overflows_the_stack(text in nesting_text()) {
        let outcome = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || {
                let unbounded = CelEngine::new(Limits {
                    max_expression_bytes: usize::MAX,
                    ..Limits::default()
                });
                [CelEngine::default().check(&text), unbounded.check(&text)]
            })
            .unwrap()
            .join();
        let results = outcome.expect("no stack overflow");
        for result in results {
            if let Err(error) = result {
                let expected = matches!(
                    error.kind(),
                    CelErrorKind::LimitExceeded { .. }
                        | CelErrorKind::Syntax
                        | CelErrorKind::UnknownVariable { .. }
                        | CelErrorKind::UnknownFunction { .. }
                );
                prop_assert!(expected, "{}", error);
            }
        }
    }

    /// Whatever grows, and however it nests, the evaluation ends quickly: with a value or a
    /// typed error, most often a limit.
    #[test]
    fn growth_ends_within_the_limits(expr in growth_expression()) {
        let engine = CelEngine::default();
        let payload = json!({"s": "x".repeat(1024), "list": (0..1000).collect::<Vec<_>>()});
        let started = std::time::Instant::now();
        let result = engine.eval_value(&expr, &Activation::new("v", "r", "a", &payload));
        let elapsed = started.elapsed();
        prop_assert!(elapsed < std::time::Duration::from_secs(5), "{} took {:?}", expr, elapsed);
        if let Err(error) = result {
            prop_assert_ne!(error.kind(), &CelErrorKind::Internal, "{}", error);
        }
    }
}
