//! The engine's rules, through its public API: filter and map semantics, conversions both ways,
//! registry-time checks, limits, error messages, and the shared cache.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tributary_cel::{Activation, CelEngine, CelErrorKind, Limit, Limits};

fn okta_user() -> Value {
    json!({
        "id": 12345678,
        "status": "ACTIVE",
        "created": "2024-01-02T03:04:05.000Z",
        "score": 1.5,
        "big": 18446744073709551615u64,
        "profile": {
            "login": "ada@example.com",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "email": "ada@example.com"
        },
        "groups": [{"name": "ops", "role": "owner"}, {"name": "dev", "role": "member"}]
    })
}

fn activation(payload: &Value) -> Activation<'_> {
    Activation::new("user", "users", "list", payload)
}

fn eval(expr: &str, payload: &Value) -> Result<Value, tributary_cel::CelError> {
    CelEngine::default().eval_value(expr, &activation(payload))
}

#[test]
fn an_empty_filter_passes_and_a_bool_decides() {
    let engine = CelEngine::default();
    let payload = okta_user();
    let a = activation(&payload);
    assert!(engine.eval_filter("", &a).unwrap());
    assert!(engine.eval_filter("   ", &a).unwrap());
    assert!(
        engine
            .eval_filter("payload.status == 'ACTIVE'", &a)
            .unwrap()
    );
    assert!(
        !engine
            .eval_filter("payload.status == 'SUSPENDED'", &a)
            .unwrap()
    );
}

#[test]
fn a_filter_that_is_not_a_bool_is_a_typed_error() {
    let engine = CelEngine::default();
    let payload = okta_user();
    let err = engine
        .eval_filter("payload.status", &activation(&payload))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::WrongResultType {
            expected: "bool",
            actual: "string".to_owned()
        }
    );
}

#[test]
fn an_empty_map_keeps_the_payload_and_null_gives_an_empty_object() {
    let engine = CelEngine::default();
    let payload = okta_user();
    let a = activation(&payload);
    assert_eq!(
        Value::Object(engine.eval_map("", &a).unwrap()),
        payload.clone()
    );
    assert!(engine.eval_map("null", &a).unwrap().is_empty());
    let not_an_object = json!([1, 2]);
    let err = engine
        .eval_map("", &activation(&not_an_object))
        .unwrap_err();
    assert_eq!(err.kind(), &CelErrorKind::InvalidPayload);
}

#[test]
fn a_map_that_is_not_an_object_is_a_typed_error() {
    let engine = CelEngine::default();
    let payload = okta_user();
    let err = engine
        .eval_map("[payload.id]", &activation(&payload))
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        CelErrorKind::WrongResultType { expected: "map (or null)", actual } if actual == "list"
    ));
}

#[test]
fn a_map_builds_the_record() {
    let engine = CelEngine::default();
    let payload = okta_user();
    let record = engine
        .eval_map(
            r#"{
                "external_id": string(payload.id),
                "email": payload.profile.email.lowerAscii(),
                "display_name": payload.profile.firstName + " " + payload.profile.lastName,
                "owner_of": payload.groups.filter(g, g.role == "owner").map(g, g.name),
                "manager": payload.profile.?manager.orValue(null),
                "kind": variant + "/" + envelope.resource
            }"#,
            &activation(&payload),
        )
        .unwrap();
    assert_eq!(
        Value::Object(record),
        json!({
            "external_id": "12345678",
            "email": "ada@example.com",
            "display_name": "Ada Lovelace",
            "owner_of": ["ops"],
            "manager": null,
            "kind": "user/users"
        })
    );
}

#[test]
fn json_integers_are_ints_and_other_numbers_doubles() {
    let payload = okta_user();
    assert_eq!(
        eval("string(payload.id)", &payload).unwrap(),
        json!("12345678")
    );
    assert_eq!(eval("payload.id + 1", &payload).unwrap(), json!(12345679));
    assert_eq!(
        eval("type(payload.id) == int", &payload).unwrap(),
        json!(true)
    );
    assert_eq!(
        eval("type(payload.score) == double", &payload).unwrap(),
        json!(true)
    );
    assert_eq!(
        eval("type(payload.big) == uint", &payload).unwrap(),
        json!(true)
    );
    assert_eq!(
        eval("payload.big", &payload).unwrap(),
        json!(18446744073709551615u64)
    );
    assert_eq!(eval("payload.score * 2.0", &payload).unwrap(), json!(3.0));
}

#[test]
fn cel_values_convert_to_json_by_our_rules() {
    let payload = okta_user();
    assert_eq!(
        eval("timestamp(payload.created)", &payload).unwrap(),
        json!("2024-01-02T03:04:05Z")
    );
    assert_eq!(
        eval("timestamp('2024-01-02T03:04:05.250+02:00')", &payload).unwrap(),
        json!("2024-01-02T01:04:05.250Z")
    );
    assert_eq!(eval("duration('1.5s')", &payload).unwrap(), json!("1.5s"));
    assert_eq!(eval("duration('-90m')", &payload).unwrap(), json!("-5400s"));
    assert_eq!(eval("duration('1ms')", &payload).unwrap(), json!("0.001s"));
    assert_eq!(eval("b'hi!'", &payload).unwrap(), json!("aGkh"));
    assert_eq!(
        eval("{1: 'a', true: 'b'}", &payload).unwrap(),
        json!({"1": "a", "true": "b"})
    );
    assert_eq!(eval("optional.of(3)", &payload).unwrap(), json!(3));
    assert_eq!(eval("optional.none()", &payload).unwrap(), json!(null));
    assert_eq!(eval("3u", &payload).unwrap(), json!(3));
    let err = eval("int", &payload).unwrap_err();
    assert_eq!(err.kind(), &CelErrorKind::Unrepresentable);
    let err = eval("0.0 / 0.0", &payload).unwrap_err();
    assert_eq!(err.kind(), &CelErrorKind::Unrepresentable);
}

#[test]
fn time_functions_work() {
    let payload = okta_user();
    assert_eq!(
        eval("timestamp(payload.created).getFullYear()", &payload).unwrap(),
        json!(2024)
    );
    assert_eq!(
        eval(
            "timestamp(payload.created) + duration('24h') > timestamp(payload.created)",
            &payload
        )
        .unwrap(),
        json!(true)
    );
}

#[test]
fn extensions_are_available() {
    let payload = okta_user();
    assert_eq!(
        eval("'a,b'.split(',')", &payload).unwrap(),
        json!(["a", "b"])
    );
    assert_eq!(
        eval("['a', 'b'].join('-')", &payload).unwrap(),
        json!("a-b")
    );
    assert_eq!(eval("math.greatest(1, 5, 3)", &payload).unwrap(), json!(5));
    assert_eq!(
        eval("[3, 1, 2].sort()", &payload).unwrap(),
        json!([1, 2, 3])
    );
    assert_eq!(eval("lists.range(3)", &payload).unwrap(), json!([0, 1, 2]));
    assert_eq!(
        eval("'x'.replace('x', 'yy')", &payload).unwrap(),
        json!("yy")
    );
    assert_eq!(
        eval("'aaa'.replace('a', 'b', 2)", &payload).unwrap(),
        json!("bba")
    );
    assert_eq!(
        eval("base64.encode(b'hi!')", &payload).unwrap(),
        json!("aGkh")
    );
    assert_eq!(
        eval("payload.groups.exists_one(g, g.role == 'owner')", &payload).unwrap(),
        json!(true)
    );
    assert_eq!(
        eval("payload.groups.all(g, has(g.name))", &payload).unwrap(),
        json!(true)
    );
}

#[test]
fn a_missing_field_is_a_typed_error_and_has_guards_it() {
    let payload = okta_user();
    let err = eval("payload.profile.manager", &payload).unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::MissingField {
            field: "manager".to_owned()
        }
    );
    assert!(err.to_string().contains("has("), "{err}");
    assert_eq!(
        eval(
            "has(payload.profile.manager) ? payload.profile.manager : 'none'",
            &payload
        )
        .unwrap(),
        json!("none")
    );
}

#[test]
fn check_rejects_a_typo_in_a_variable_with_its_position() {
    let engine = CelEngine::default();
    let err = engine
        .check("payload.id == 1 && paylod.x == 2")
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::UnknownVariable {
            name: "paylod".to_owned()
        }
    );
    let position = err.position().expect("a position");
    assert_eq!((position.line, position.column), (1, 20));
}

#[test]
fn check_rejects_an_unknown_function() {
    let engine = CelEngine::default();
    let err = engine.check("payload.name.toLower()").unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::UnknownFunction {
            name: "toLower".to_owned()
        }
    );
    let err = engine.check("lowerAscii(payload.name)").unwrap_err();
    assert!(matches!(err.kind(), CelErrorKind::UnknownFunction { .. }));
    let err = engine.check("strings.nope('x')").unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::UnknownFunction {
            name: "strings.nope".to_owned()
        }
    );
}

#[test]
fn check_accepts_comprehension_variables_types_and_namespaced_functions() {
    let engine = CelEngine::default();
    for ok in [
        "payload.groups.map(g, g.name)",
        "payload.groups.exists(g, g.members.all(m, m.active))",
        "type(payload.id) == int",
        "type(payload.d) == google.protobuf.Duration",
        "optional.of(payload.id).hasValue()",
        "strings.quote(payload.name)",
        "math.least([1, 2])",
        "[1, 2].sortBy(x, -x)",
        "envelope.payload.id == payload.id && variant == 'user' && resource != action",
        "has(payload.x)",
        "payload.?x.orValue(1)",
    ] {
        engine.check(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    // an iteration variable is only in scope inside its comprehension
    let err = engine
        .check("payload.groups.map(g, g.name) + [g]")
        .unwrap_err();
    assert!(matches!(err.kind(), CelErrorKind::UnknownVariable { name } if name == "g"));
}

#[test]
fn a_syntax_error_has_a_position() {
    let err = CelEngine::default().check("payload.id == )").unwrap_err();
    assert_eq!(err.kind(), &CelErrorKind::Syntax);
    let position = err.position().expect("a position");
    assert_eq!((position.line, position.column), (1, 15));
    assert!(err.to_string().starts_with("syntax error: "), "{err}");
    let err = CelEngine::default()
        .check("payload.a &&\n  payload.b @ 1")
        .unwrap_err();
    assert_eq!(err.position().map(|p| p.line), Some(2));
}

#[test]
fn errors_name_the_definition_mapping_expression_and_position() {
    let err = CelEngine::default()
        .check("paylod.id")
        .unwrap_err()
        .with_mapping("okta", "DirectoryAccount", "user");
    let text = err.to_string();
    for part in [
        "okta",
        "DirectoryAccount",
        "user",
        "paylod.id",
        "1:1",
        "unknown variable",
    ] {
        assert!(text.contains(part), "`{part}` missing from: {text}");
    }
    let mapping = err.mapping().unwrap();
    assert_eq!(mapping.definition_id, "okta");
}

#[test]
fn limits_on_the_expression() {
    let engine = CelEngine::new(Limits {
        max_expression_bytes: 64,
        max_expression_depth: 10,
        ..Limits::default()
    });
    let long = format!("payload.x == '{}'", "a".repeat(100));
    assert_eq!(
        engine.check(&long).unwrap_err().kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::ExpressionLength
        }
    );
    let deep = format!("{}1{}", "(".repeat(12), ")".repeat(12));
    assert_eq!(
        engine.check(&deep).unwrap_err().kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::ExpressionDepth
        }
    );
    let chain = format!("payload{}", ".a".repeat(20));
    assert_eq!(
        engine.check(&chain).unwrap_err().kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::ExpressionDepth
        }
    );
    // The parser folds repeated prefix operators, so these stay shallow.
    let negations = format!("{}true", "!".repeat(31));
    assert_eq!(
        engine.eval_filter(&negations, &activation(&json!({}))),
        Ok(false)
    );
    engine.check("(((payload.a)))").unwrap();
}

#[test]
fn pathological_expressions_at_default_limits_fail_cleanly() {
    let engine = CelEngine::default();
    for expr in [
        format!("{}1{}", "(".repeat(5000), ")".repeat(5000)),
        format!("{}1{}", "[".repeat(5000), "]".repeat(5000)),
        format!("payload{}", ".a".repeat(8000)),
        format!("1{}", " + 1".repeat(4000)),
        format!("{}1]", "[1, ".repeat(3000)),
    ] {
        let err = engine.check(&expr).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                CelErrorKind::LimitExceeded { .. } | CelErrorKind::Syntax
            ),
            "{:?}",
            err.kind()
        );
    }
    // The parser balances chains of `&&` and `||`, so a long one stays shallow and runs.
    let conjunction = format!("true{}", " && true".repeat(2000));
    assert_eq!(
        engine.eval_filter(&conjunction, &activation(&json!({}))),
        Ok(true)
    );
}

#[test]
fn limits_on_the_payload() {
    let engine = CelEngine::new(Limits {
        max_payload_bytes: 1024,
        max_payload_depth: 8,
        ..Limits::default()
    });
    let big = json!({"s": "x".repeat(2000)});
    let err = engine
        .eval_filter("payload.s != ''", &activation(&big))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::PayloadSize
        }
    );
    let mut deep = json!(1);
    for _ in 0..20 {
        deep = json!({ "a": deep });
    }
    let err = engine
        .eval_filter("has(payload.a)", &activation(&deep))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::PayloadDepth
        }
    );
    // an expression that does not use the payload does not pay for it
    assert!(
        engine
            .eval_filter("variant == 'user'", &activation(&deep))
            .unwrap()
    );
}

#[test]
fn raw_payload_bytes_are_parsed_within_limits() {
    let engine = CelEngine::new(Limits {
        max_payload_bytes: 1024,
        max_payload_depth: 8,
        ..Limits::default()
    });
    assert_eq!(
        engine.parse_payload(br#"{"a": [1, "]]]"]}"#).unwrap(),
        json!({"a": [1, "]]]"]})
    );
    assert_eq!(
        engine.parse_payload(b"\xff not json").unwrap_err().kind(),
        &CelErrorKind::InvalidPayload
    );
    let deep = format!("{}{}", "[".repeat(20), "]".repeat(20));
    assert_eq!(
        engine.parse_payload(deep.as_bytes()).unwrap_err().kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::PayloadDepth
        }
    );
    let unbalanced = "[".repeat(100_000);
    assert_eq!(
        engine
            .parse_payload(unbalanced.as_bytes())
            .unwrap_err()
            .kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::PayloadSize
        }
    );
    let nested_past_serde = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let err = engine
        .parse_payload(nested_past_serde.as_bytes())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::PayloadDepth
        }
    );
    assert_eq!(
        err.to_string(),
        "payload nesting depth limit exceeded: the payload nests deeper than 8 levels"
    );
    assert_eq!(
        engine.parse_payload(&vec![b' '; 2048]).unwrap_err().kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::PayloadSize
        }
    );
}

#[test]
fn evaluation_work_is_bounded() {
    let engine = CelEngine::new(Limits {
        max_evaluation_work: 10_000,
        ..Limits::default()
    });
    let payload = json!({"items": (0..200).collect::<Vec<_>>()});
    let a = activation(&payload);
    // 200 + 200 * 200 iterations
    let err = engine
        .eval_value("payload.items.map(a, payload.items.map(b, a + b))", &a)
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::EvaluationWork
        }
    );
    let err = engine
        .eval_value(
            "payload.items.exists(a, payload.items.exists(b, a + b < 0))",
            &a,
        )
        .unwrap_err();
    assert!(matches!(err.kind(), CelErrorKind::LimitExceeded { .. }));
    // copying a big value in every step is charged for its size
    let err = engine
        .eval_value("lists.range(100).map(a, payload.items)", &a)
        .unwrap_err();
    assert!(matches!(err.kind(), CelErrorKind::LimitExceeded { .. }));
    // within the budget it works, and the budget is per evaluation
    for _ in 0..3 {
        assert_eq!(
            engine
                .eval_value("payload.items.filter(a, a < 3)", &a)
                .unwrap(),
            json!([0, 1, 2])
        );
    }
}

#[test]
fn a_replace_that_would_explode_is_refused() {
    let engine = CelEngine::new(Limits {
        max_payload_bytes: 10_000,
        ..Limits::default()
    });
    let payload = json!({"s": "a".repeat(1000)});
    let err = engine
        .eval_value("payload.s.replace('', payload.s)", &activation(&payload))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::PayloadSize
        }
    );
}

#[test]
fn the_cache_is_shared_across_threads_and_bounded() {
    let engine = CelEngine::new(Limits {
        max_cached_programs: 8,
        ..Limits::default()
    });
    let payload = okta_user();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let engine = engine.clone();
            let payload = &payload;
            scope.spawn(move || {
                for i in 0..50 {
                    let expr = format!("payload.id + {}", i % 4);
                    let v = engine.eval_value(&expr, &activation(payload)).unwrap();
                    assert_eq!(v, json!(12345678 + (i % 4)), "thread {t}");
                }
            });
        }
    });
    assert_eq!(engine.cached_programs(), 4);
    for i in 0..20 {
        engine.check(&format!("payload.id == {i}")).unwrap();
    }
    assert!(engine.cached_programs() <= 8);
}

#[test]
fn a_compiled_program_is_reusable() {
    let engine = CelEngine::default();
    let program = engine.compile("payload.n * 2").unwrap();
    for n in 0..5 {
        let payload = json!({ "n": n });
        assert_eq!(
            program.evaluate(&activation(&payload)).unwrap(),
            json!(n * 2)
        );
    }
    assert_eq!(program.expression(), "payload.n * 2");
    assert!(engine.compile("").unwrap().is_empty());
}

#[test]
fn engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<CelEngine>();
    assert_send_sync::<tributary_cel::Program>();
}

#[test]
fn payload_objects_and_arrays_behave_as_maps_and_lists() {
    let payload = json!({
        "obj": {"a": 1, "b": [1, 2.5, "x"]},
        "arr": [3, 1, 2],
        "objs": [{"a": 1}, {"a": 2}]
    });
    for (expr, expected) in [
        ("payload.obj == {'a': 1, 'b': [1, 2.5, 'x']}", json!(true)),
        ("{'a': 1, 'b': [1, 2.5, 'x']} == payload.obj", json!(true)),
        ("{'a': 1} != payload.obj", json!(true)),
        ("[3, 1, 2] == payload.arr", json!(true)),
        ("payload.arr == [3, 1, 2]", json!(true)),
        ("payload.arr == [3.0, 1u, 2]", json!(true)),
        ("payload.arr != [3, 1]", json!(true)),
        ("payload.objs == [{'a': 1}, {'a': 2}]", json!(true)),
        ("payload.obj == payload.obj", json!(true)),
        ("'a' in payload.obj", json!(true)),
        ("1 in payload.obj", json!(false)),
        ("2 in payload.arr", json!(true)),
        ("payload.arr + [4]", json!([3, 1, 2, 4])),
        ("[0] + payload.arr", json!([0, 3, 1, 2])),
        ("payload.arr[1]", json!(1)),
        ("payload.arr[1u]", json!(1)),
        ("payload.arr.sort()", json!([1, 2, 3])),
        ("size(payload.obj) + payload.arr.size()", json!(5)),
        ("payload.obj.map(k, k)", json!(["a", "b"])),
        ("payload.objs.map(o, o.a)", json!([1, 2])),
        ("payload.obj", json!({"a": 1, "b": [1, 2.5, "x"]})),
        ("[payload.obj.b]", json!([[1, 2.5, "x"]])),
        ("math.greatest(payload.arr)", json!(3)),
        ("payload.arr.map(x, string(x)).join(',')", json!("3,1,2")),
        ("payload.?missing.orValue(payload.arr)", json!([3, 1, 2])),
        ("has(payload.obj.b) && !has(payload.obj.c)", json!(true)),
        (
            "optional.ofNonZeroValue(payload.obj).hasValue()",
            json!(true),
        ),
        ("dyn(payload.arr).exists(x, x > 2)", json!(true)),
    ] {
        assert_eq!(eval(expr, &payload).unwrap(), expected, "{expr}");
    }
    let err = eval("payload.arr[5]", &payload).unwrap_err();
    assert_eq!(err.kind(), &CelErrorKind::Evaluation);
}

#[test]
fn cel_bind_and_quoted_field_names() {
    let payload = json!({"content-type": "text/plain", "name": "Ada"});
    assert_eq!(
        eval("cel.bind(n, payload.name, n + ' ' + n)", &payload).unwrap(),
        json!("Ada Ada")
    );
    assert_eq!(
        eval("payload.`content-type`", &payload).unwrap(),
        json!("text/plain")
    );
    assert_eq!(
        eval("has(payload.`content-type`)", &payload).unwrap(),
        json!(true)
    );
    // the bound name is only in scope in the body
    let err = CelEngine::default()
        .check("cel.bind(n, 1, n) + n")
        .unwrap_err();
    assert!(matches!(err.kind(), CelErrorKind::UnknownVariable { name } if name == "n"));
}

#[test]
fn a_map_literal_gives_the_same_record_as_the_general_path() {
    let engine = CelEngine::default();
    let payload = okta_user();
    let a = activation(&payload);
    for expr in [
        "{'id': payload.id, 'groups': payload.groups.map(g, g.name), 'ts': timestamp(payload.created)}",
        "{?'manager': payload.profile.?manager, ?'email': payload.profile.?email}",
        "{1: 'one', true: 'yes', 2u: payload.profile}",
        "{'nested': {'a': [payload.score, null, b'x']}}",
    ] {
        let mapped = engine.eval_map(expr, &a).unwrap();
        assert_eq!(
            Value::Object(mapped),
            engine.eval_value(expr, &a).unwrap(),
            "{expr}"
        );
    }
    let optional = engine
        .eval_map("{?'manager': payload.profile.?manager, 'x': 1}", &a)
        .unwrap();
    assert_eq!(Value::Object(optional), json!({"x": 1}));
    for bad in [
        "{'a': 1, 'a': 2}",
        "{1: 'x', 1u: 'y'}",
        "{[1]: 2}",
        "{'a': payload.nope}",
    ] {
        let general = engine.eval_value(bad, &a).unwrap_err();
        let literal = engine.eval_map(bad, &a).unwrap_err();
        assert_eq!(literal.kind(), general.kind(), "{bad}");
    }
}

#[test]
fn two_variable_comprehensions() {
    let payload = json!({
        "tags": ["a", "b", "c"],
        "labels": {"env": "prod", "team": "ops"}
    });
    for (expr, expected) in [
        ("payload.tags.all(i, t, i < 3 && t != '')", json!(true)),
        ("payload.tags.exists(i, t, i == 1 && t == 'b')", json!(true)),
        ("payload.tags.existsOne(i, t, t == 'c')", json!(true)),
        (
            "payload.tags.transformList(i, t, string(i) + t)",
            json!(["0a", "1b", "2c"]),
        ),
        (
            "payload.tags.transformList(i, t, i > 0, t)",
            json!(["b", "c"]),
        ),
        (
            "payload.labels.transformList(k, v, k + '=' + v).sort()",
            json!(["env=prod", "team=ops"]),
        ),
        (
            "payload.labels.exists(k, v, k == 'team' && v == 'ops')",
            json!(true),
        ),
    ] {
        assert_eq!(eval(expr, &payload).unwrap(), expected, "{expr}");
    }
    let err = CelEngine::default()
        .check("payload.tags.all(i, i, true)")
        .unwrap_err();
    assert_eq!(err.kind(), &CelErrorKind::Syntax);
    // metered like any comprehension
    let engine = CelEngine::new(Limits {
        max_evaluation_work: 50,
        ..Limits::default()
    });
    let big = json!({"items": (0..100).collect::<Vec<_>>()});
    let err = engine
        .eval_value("payload.items.transformList(i, v, v)", &activation(&big))
        .unwrap_err();
    assert!(matches!(err.kind(), CelErrorKind::LimitExceeded { .. }));
}

/// Evaluates `expr` with the default limits against `payload`, and says how long it took.
fn timed(expr: &str, payload: &Value) -> (Result<Value, tributary_cel::CelError>, Duration) {
    timed_with(&CelEngine::default(), expr, payload)
}

fn timed_with(
    engine: &CelEngine,
    expr: &str,
    payload: &Value,
) -> (Result<Value, tributary_cel::CelError>, Duration) {
    let started = Instant::now();
    let result = engine.eval_value(expr, &activation(payload));
    (result, started.elapsed())
}

/// A generous ceiling on the time a refused evaluation takes: the error kind is what is
/// asserted; this only catches an evaluation that ran away.
const SANITY_CEILING: Duration = Duration::from_secs(5);

fn assert_limit(expr: &str, payload: &Value, which: Limit) {
    // The deadline is pushed back, so that the limit asserted, not the clock of a slow debug
    // build, stops the evaluation; the deadline has its own test.
    let engine = CelEngine::new(Limits {
        max_evaluation_time: Duration::from_secs(60),
        ..Limits::default()
    });
    let (result, elapsed) = timed_with(&engine, expr, payload);
    let error = result.expect_err(expr);
    assert_eq!(
        error.kind(),
        &CelErrorKind::LimitExceeded { which },
        "{expr}: {error}"
    );
    assert!(elapsed < SANITY_CEILING, "{expr} took {elapsed:?}");
}

/// `cel.bind(v1, x + x + … (8 terms), cel.bind(v2, v1 + v1 + …, …))`, `levels` deep.
fn concatenation_bomb(levels: usize) -> String {
    let mut expr = "size(v0) > 0".to_owned();
    for level in (1..=levels).rev() {
        let operand = if level == 1 {
            "payload.a".to_owned()
        } else {
            format!("v{}", level - 1)
        };
        let sum = vec![operand; 8].join(" + ");
        expr = expr.replace("v0", &format!("v{level}"));
        expr = format!("cel.bind(v{level}, {sum}, {expr})");
    }
    expr
}

#[test]
fn repeated_concatenation_stops_at_the_size_limit_before_allocating() {
    let payload = json!({"a": "x".repeat(1024)});
    // 32 MiB after five levels; eight levels (2 GiB, then 16 GiB) used to abort the process on
    // a failed allocation.
    for levels in [5, 8] {
        assert_limit(&concatenation_bomb(levels), &payload, Limit::PayloadSize);
    }
    // the same shape within the limit works
    let (result, _) = timed(&concatenation_bomb(2), &payload);
    assert_eq!(result.unwrap(), json!(true));
    // bytes too
    assert_limit(
        "cel.bind(a, bytes(payload.a), cel.bind(b, a + a + a + a + a + a + a + a, \
         cel.bind(c, b + b + b + b + b + b + b + b, cel.bind(d, c + c + c + c + c + c + c + c, \
         size(d + d + d + d + d + d + d + d + d)))))",
        &payload,
        Limit::PayloadSize,
    );
}

#[test]
fn lists_built_by_concatenation_and_literals_are_bounded() {
    let payload = json!({});
    assert_limit(
        "cel.bind(a, lists.range(50000), cel.bind(b, a + a + a, size(b + b)))",
        &payload,
        Limit::ListSize,
    );
    // a literal holding the same list ten times copies it ten times, and is charged so
    assert_limit(
        "cel.bind(a, lists.range(100), cel.bind(b, [a, a, a, a, a, a, a, a, a, a], \
         cel.bind(c, [b, b, b, b, b, b, b, b, b, b], cel.bind(d, [c, c, c, c, c, c, c, c, c, c], \
         size([d, d, d, d, d, d, d, d, d, d]) > 0))))",
        &payload,
        Limit::EvaluationWork,
    );
    // and so is a map literal
    assert_limit(
        "cel.bind(a, lists.range(400), cel.bind(b, {'a': a, 'b': a, 'c': a, 'd': a, 'e': a}, \
         cel.bind(c, {'a': b, 'b': b, 'c': b, 'd': b, 'e': b}, cel.bind(d, {'a': c, 'b': c, 'c': c, 'd': c, 'e': c}, \
         cel.bind(e, {'a': d, 'b': d, 'c': d, 'd': d, 'e': d}, size({'a': e, 'b': e, 'c': e, 'd': e, 'e': e}) > 0)))))",
        &payload,
        Limit::EvaluationWork,
    );
}

#[test]
fn lists_range_is_checked_before_it_allocates() {
    assert_limit("size(lists.range(1000000))", &json!({}), Limit::ListSize);
    assert_eq!(
        eval("size(lists.range(100000))", &json!({})).unwrap(),
        json!(100000)
    );
}

#[test]
fn distinct_is_linear_for_scalars_and_charged_for_the_rest() {
    // used to compare every pair: 1.25e9 comparisons
    let (result, elapsed) = timed("size(lists.range(50000).distinct())", &json!({}));
    assert_eq!(result.unwrap(), json!(50000));
    assert!(elapsed < SANITY_CEILING, "took {elapsed:?}");
    assert_limit(
        "lists.range(1000000).distinct()",
        &json!({}),
        Limit::ListSize,
    );
    // values that cannot be hashed are compared pairwise, each comparison charged
    assert_limit(
        "size(lists.range(3000).map(i, [i]).distinct())",
        &json!({}),
        Limit::EvaluationWork,
    );
    // CEL's equality: 1, 1u and 1.0 are one element; NaN equals nothing
    assert_eq!(
        eval(
            "[1, 1u, 1.0, 2u, 'a', b'a', 'a', [1], [1.0], {'k': 1}, {'k': 1u}, null, null, true, 1.5, 1.5]\
             .distinct()",
            &json!({})
        )
        .unwrap(),
        json!([1, 2, "a", "YQ==", [1], {"k": 1}, null, true, 1.5])
    );
    assert_eq!(
        eval(
            "size([double('NaN'), double('NaN')].distinct())",
            &json!({})
        )
        .unwrap(),
        json!(2)
    );
    assert_eq!(
        eval("payload.tags.distinct()", &json!({"tags": ["a", "b", "a"]})).unwrap(),
        json!(["a", "b"])
    );
}

#[test]
fn library_functions_are_charged_and_bounded_before_they_build() {
    let payload = json!({
        "a": "x".repeat(1024),
        "big": "x,".repeat(200_000),
        "quotes": "\"".repeat(600_000)
    });
    // n log n: 100,000 * 17
    assert_limit(
        "size(lists.range(100000).sort())",
        &payload,
        Limit::EvaluationWork,
    );
    assert_limit(
        "size(lists.range(100000).sortBy(i, -i))",
        &payload,
        Limit::EvaluationWork,
    );
    assert_limit(
        "size(lists.range(10000).map(i, payload.a).join(''))",
        &payload,
        Limit::PayloadSize,
    );
    assert_limit(
        "size(lists.range(5000).map(i, 'y').join(payload.a))",
        &payload,
        Limit::PayloadSize,
    );
    assert_limit("size(payload.big.split(','))", &payload, Limit::ListSize);
    assert_limit("size(payload.big.split(''))", &payload, Limit::ListSize);
    assert_limit(
        "cel.bind(a, '%s%s%s%s%s%s%s%s'.format([payload.a, payload.a, payload.a, payload.a, payload.a, payload.a, payload.a, payload.a]), \
         cel.bind(b, '%s%s%s%s%s%s%s%s'.format([a, a, a, a, a, a, a, a]), \
         cel.bind(c, '%s%s%s%s%s%s%s%s'.format([b, b, b, b, b, b, b, b]), \
         size('%s%s%s%s%s%s%s%s%s'.format([c, c, c, c, c, c, c, c, c])))))",
        &payload,
        Limit::PayloadSize,
    );
    assert_limit(
        "cel.bind(a, payload.a.replace('x', 'xxxxxxxx'), cel.bind(b, a.replace('x', 'xxxxxxxx'), \
         cel.bind(c, b.replace('x', 'xxxxxxxx'), size(c.replace('x', 'xxxxxxxx')))))",
        &payload,
        Limit::PayloadSize,
    );
    assert_limit(
        "size(lists.range(400).map(i, lists.range(400)).flatten())",
        &payload,
        Limit::ListSize,
    );
    assert_limit(
        "cel.bind(q, payload.quotes + payload.quotes, size(strings.quote(q + q)))",
        &payload,
        Limit::PayloadSize,
    );
    // a naive search compares the needle at every place: (n - m + 1) * m
    assert_limit(
        "cel.bind(s, payload.big + payload.big, s.indexOf(s.substring(0, 300000)) >= 0)",
        &payload,
        Limit::EvaluationWork,
    );
    // nested comprehensions
    assert_limit(
        "size(lists.range(1000).map(i, lists.range(1000).map(j, [i, j, i + j])))",
        &payload,
        Limit::EvaluationWork,
    );
    // growth by repetition: a string doubled in each step of a fold
    assert_limit(
        "lists.range(60).map(i, payload.a).join(payload.a).split('').size() > 0",
        &payload,
        Limit::ListSize,
    );
    // within the limits, the same functions work
    assert_eq!(
        eval(
            "[['b', 'a'].sort().join('-'), 'a,b'.split(','), '%s=%d'.format(['x', 1]), \
             [[1], [2, [3]]].flatten(), [3, 1, 2].sortBy(i, i), 'Ab'.lowerAscii(), \
             'abc'.reverse(), [1, 2, 3].slice(1, 2), 'abc'.substring(1), strings.quote('a'), \
             ['a', 'b'].join(), ['a', 'b'].join(variant), [[1], [2]].flatten(1)]",
            &json!({})
        )
        .unwrap(),
        json!([
            "a-b",
            ["a", "b"],
            "x=1",
            [1, 2, [3]],
            [1, 2, 3],
            "ab",
            "cba",
            [2],
            "bc",
            "\"a\"",
            "ab",
            "auserb",
            [1, 2]
        ])
    );
}

#[test]
fn a_limit_stops_the_evaluation_even_where_cel_would_absorb_the_error() {
    assert_limit(
        "size(lists.range(200000)) > 0 || true",
        &json!({}),
        Limit::ListSize,
    );
    assert_limit(
        "lists.range(3).exists(i, i == 2 || size(lists.range(200000)) > 0)",
        &json!({}),
        Limit::ListSize,
    );
}

#[test]
fn an_evaluation_stops_at_its_deadline() {
    let engine = CelEngine::new(Limits {
        max_evaluation_work: u64::MAX,
        max_evaluation_time: Duration::from_millis(100),
        ..Limits::default()
    });
    // 10^10 steps
    let (result, elapsed) = timed_with(
        &engine,
        "lists.range(100000).all(i, lists.range(100000).all(j, j >= 0))",
        &json!({}),
    );
    let error = result.unwrap_err();
    assert_eq!(
        error.kind(),
        &CelErrorKind::LimitExceeded {
            which: Limit::EvaluationTime
        },
        "{error}"
    );
    assert!(error.to_string().contains("100 ms"), "{error}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    // the default is at most a second
    assert!(Limits::default().max_evaluation_time <= Duration::from_secs(1));
}

/// Runs `body` on a thread with a 128 KiB stack, as a small worker thread might have.
fn on_small_stack<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(body)
        .unwrap()
        .join()
        .expect("no stack overflow")
}

/// Deeply nested or long-chained expressions of every shape.
fn pathological(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("parens", format!("{}1{}", "(".repeat(n), ")".repeat(n))),
        ("lists", format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        ("maps", format!("{}1{}", "{'a': ".repeat(n), "}".repeat(n))),
        ("calls", format!("{}1{}", "size(".repeat(n), ")".repeat(n))),
        ("not", format!("{}true", "!".repeat(n))),
        ("negation", format!("{}1", "-".repeat(n))),
        (
            "negated parens",
            format!("{}1{}", "-(".repeat(n), ")".repeat(n)),
        ),
        ("members", format!("payload{}", ".a".repeat(n))),
        ("methods", format!("'a'{}", ".lowerAscii()".repeat(n))),
        ("sum", format!("1{}", " + 1".repeat(n))),
        ("comparisons", format!("1{}", " < 1".repeat(n))),
        ("conditionals", format!("{}1", "true ? 1 : ".repeat(n))),
        ("or", format!("true{}", " || true".repeat(n))),
        ("and", format!("true{}", " && true".repeat(n))),
        ("in", format!("1{}", " in [1]".repeat(n))),
    ]
}

#[test]
fn pathological_expressions_are_refused_on_a_small_stack() {
    on_small_stack(|| {
        let default = CelEngine::default();
        // with no length limit, the pre-scan alone has to refuse them
        let unbounded = CelEngine::new(Limits {
            max_expression_bytes: usize::MAX,
            ..Limits::default()
        });
        for (name, expr) in pathological(100_000) {
            let error = default.check(&expr).unwrap_err();
            assert_eq!(
                error.kind(),
                &CelErrorKind::LimitExceeded {
                    which: Limit::ExpressionLength
                },
                "{name}"
            );
            match unbounded.check(&expr) {
                // chains of `||` and `&&` are balanced by the parser: shallow
                Ok(()) => assert!(matches!(name, "or" | "and"), "{name} was accepted"),
                Err(error) => assert!(
                    matches!(
                        error.kind(),
                        CelErrorKind::LimitExceeded {
                            which: Limit::ExpressionDepth
                        }
                    ),
                    "{name}: {error}"
                ),
            }
        }
    });
}

#[test]
fn the_largest_expressions_within_the_length_limit_fail_cleanly_on_a_small_stack() {
    on_small_stack(|| {
        let engine = CelEngine::default();
        let limit = engine.limits().max_expression_bytes;
        for n in [5_000, 8_000] {
            for (name, expr) in pathological(n) {
                if expr.len() > limit {
                    continue;
                }
                match engine.check(&expr) {
                    Ok(()) => assert!(matches!(name, "or" | "and"), "{name} {n} was accepted"),
                    Err(error) => assert!(
                        matches!(
                            error.kind(),
                            CelErrorKind::LimitExceeded { .. } | CelErrorKind::Syntax
                        ),
                        "{name} {n}: {error}"
                    ),
                }
            }
        }
    });
}

/// The evaluator recurses as deep as the expression nests, converting a payload as deep as it
/// nests: what the limits allow fits the stack of the threads evaluation runs on (tokio's
/// blocking pool: 2 MiB), in a debug build, whose frames are several times a release build's.
/// The interpreter's frame is largest for a conditional (over 20 KiB in a debug build).
const EVALUATION_STACK: usize = 2 * 1024 * 1024;

#[test]
fn the_deepest_allowed_expression_evaluates_on_a_small_stack() {
    let result = std::thread::Builder::new()
        .stack_size(EVALUATION_STACK)
        .spawn(|| {
            let engine = CelEngine::default();
            let depth = engine.limits().max_expression_depth;
            // an object and an array per step, inside the object holding `p`
            let mut payload = json!(1);
            for _ in 0..(engine.limits().max_payload_depth - 2) / 2 {
                payload = json!({ "a": [payload] });
            }
            let payload = json!({ "p": payload });
            let mut outcomes = Vec::new();
            for expr in [
                format!(
                    "{}payload.p{}",
                    "[".repeat(depth - 2),
                    "]".repeat(depth - 2)
                ),
                format!("{}1{}", "(1 + ".repeat(depth - 2), ")".repeat(depth - 2)),
                format!(
                    "{}[payload.p]{}",
                    "[1].map(x, ".repeat(depth / 4),
                    ")".repeat(depth / 4)
                ),
                format!(
                    "{}payload.p{}",
                    "true ? (".repeat(depth - 2),
                    ") : 0".repeat(depth - 2)
                ),
                // defaults evaluated only when needed: of a plain selection, as deep as written
                format!(
                    "{}payload.p{}",
                    "payload.?q.orValue(".repeat(depth - 3),
                    ")".repeat(depth - 3)
                ),
                // and of anything else, bound: four levels each
                format!(
                    "{}payload.p{}",
                    "[payload][?0].?q.orValue(".repeat(depth / 4 - 1),
                    ")".repeat(depth / 4 - 1)
                ),
            ] {
                engine.check(&expr).unwrap();
                outcomes.push(engine.eval_value(&expr, &activation(&payload)).map(|_| ()));
            }
            outcomes
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
    for outcome in result {
        outcome.unwrap();
    }
}

#[test]
fn searching_and_comparing_lists_is_charged() {
    // 20,000 searches of a 100,000-element list, 2e9 comparisons
    assert_limit(
        "cel.bind(l, lists.range(100000), lists.range(20000).all(i, i in l))",
        &json!({}),
        Limit::EvaluationWork,
    );
    assert_limit(
        "cel.bind(l, lists.range(100000), lists.range(20000).all(i, l == l))",
        &json!({}),
        Limit::EvaluationWork,
    );
    assert_limit(
        "cel.bind(l, lists.range(100000), lists.range(20000).all(i, math.greatest(l) > 0))",
        &json!({}),
        Limit::EvaluationWork,
    );
    assert_eq!(
        eval(
            "2 in [1, 2] && [1] == [1] && math.greatest([1, 3, 2]) == 3 && math.least(1, 2) == 1",
            &json!({})
        )
        .unwrap(),
        json!(true)
    );
}

#[test]
fn a_result_is_charged_for_its_conversion_to_json() {
    let payload = json!({"items": (0..100_000).collect::<Vec<_>>()});
    let copies = (0..12)
        .map(|i| format!("'k{i}': payload.items"))
        .collect::<Vec<_>>()
        .join(", ");
    let expr = format!("{{{copies}}}");
    let engine = CelEngine::default();
    let a = activation(&payload);
    for error in [
        engine.eval_map(&expr, &a).unwrap_err(),
        engine.eval_value(&expr, &a).unwrap_err(),
        engine
            .eval_value(&format!("[{}]", ["payload.items"; 12].join(", ")), &a)
            .unwrap_err(),
    ] {
        assert_eq!(
            error.kind(),
            &CelErrorKind::LimitExceeded {
                which: Limit::EvaluationWork
            },
            "{error}"
        );
    }
    // one copy is within the budget
    assert_eq!(
        engine.eval_map("{'k': size(payload.items)}", &a).unwrap()["k"],
        json!(100_000)
    );
}

/// CEL adds lists to lists only: `list + map` is an error (the interpreter underneath appended
/// the map's keys), as are a list plus a string or a number.
#[test]
fn a_list_plus_anything_but_a_list_is_an_error() {
    let payload = okta_user();
    assert_eq!(
        eval("[1] + [2]", &payload).unwrap(),
        serde_json::json!([1, 2])
    );
    for expr in ["[1] + {'a': 2}", "[1] + 'a'", "[1] + 2"] {
        assert!(eval(expr, &payload).is_err(), "{expr}");
    }
}

/// `x.?f` selects from a map: a missing key is `optional.none()`, but a value that is not a map
/// (null, a string, a list, a number) is an error, as the CEL specification has it, so a
/// malformed payload stops the mapping instead of mapping to nothing. `x[?k]` likewise, lists
/// included when indexed by an integer.
#[test]
fn optional_selection_on_something_that_is_not_a_map_is_an_error() {
    let payload = serde_json::json!({
        "profile": {"email": "ada@example.com"},
        "manager": null,
        "name": "Ada",
        "tags": ["a", "b"],
        "count": 3
    });
    let ok = |expr: &str| eval(expr, &payload).unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(
        ok("payload.?profile.?email.orValue('none')"),
        "ada@example.com"
    );
    assert_eq!(ok("payload.?profile.?phone.orValue('none')"), "none");
    assert_eq!(ok("payload.?missing.?email.orValue('none')"), "none");
    assert_eq!(ok("payload.?manager.hasValue()"), true);
    assert_eq!(ok("payload.tags[?1].orValue('none')"), "b");
    assert_eq!(ok("payload.tags[?5].orValue('none')"), "none");
    assert_eq!(ok("payload[?'name'].orValue('none')"), "Ada");
    assert_eq!(ok("optional.of({'a': 1}).?a.orValue(0)"), 1);
    assert_eq!(ok("optional.none().?a.orValue(0)"), 0);
    for expr in [
        "payload.?manager.?email.orValue('none')",
        "payload.?name.?first.orValue('none')",
        "payload.?tags.?first.orValue('none')",
        "payload.?count.?value.orValue(0)",
        "payload.name[?0].orValue('none')",
        "payload.tags[?'first'].orValue('none')",
        "null.?a.orValue(0)",
    ] {
        let error = eval(expr, &payload).expect_err(expr);
        assert!(
            error.to_string().contains("_?._") || error.to_string().contains("_[?_]"),
            "{expr}: {error}"
        );
    }
}

/// `orValue` and `or` evaluate their default only when the optional is empty: the reference
/// implementations accept `payload.?private.orValue(true)`-style defaults that would fail, as
/// long as they are not needed.
#[test]
fn or_value_and_or_evaluate_the_default_only_when_needed() {
    let payload = serde_json::json!({"private": false, "name": "repo"});
    let ok = |expr: &str| eval(expr, &payload).unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(ok("payload.?private.orValue(payload.missing)"), false);
    assert_eq!(ok("payload.?name.orValue(1 / 0)"), "repo");
    assert_eq!(ok("payload.?name.or(optional.of(1 / 0)).value()"), "repo");
    assert_eq!(ok("payload.?absent.or(payload.?name).value()"), "repo");
    assert_eq!(
        ok("payload.?absent.orValue(payload.?name.orValue('x'))"),
        "repo"
    );
    // needed defaults still fail
    assert!(eval("payload.?absent.orValue(payload.missing)", &payload).is_err());
    assert!(eval("payload.?absent.or(optional.of(1 / 0))", &payload).is_err());
    // and the target must still be an optional
    assert!(eval("payload.name.orValue('x')", &payload).is_err());
    // nested chains bind each level once: no blow-up in the nesting depth
    let nested = |levels: usize| {
        (0..levels).fold("payload.?absent.orValue('end')".to_owned(), |inner, _| {
            format!("payload.?absent.orValue({inner})")
        })
    };
    assert_eq!(ok(&nested(40)), "end");
    // an optional that is not a plain selection is bound once, four levels deep: too many of
    // them is the depth limit, said as such
    let bound = |levels: usize| {
        (0..levels).fold("'end'".to_owned(), |inner, _| {
            format!("[payload][?0].?absent.orValue({inner})")
        })
    };
    assert_eq!(ok(&bound(10)), "end");
    let error = eval(&bound(20), &payload).unwrap_err();
    assert!(error.to_string().contains("orValue"), "{error}");
    // a bound optional is evaluated once
    assert_eq!(ok("[payload][?0].?name.orValue(1 / 0)"), "repo");
}

/// `string(double)` writes the number as cel-go does (Go's `%g`, shortest): an exponent from
/// 1e6 up and below 1e-4, as in `1e+06` and `1e-05`, and no trailing `.0`.
#[test]
fn doubles_convert_to_strings_as_cel_go_writes_them() {
    let payload = serde_json::json!({});
    for (expr, expected) in [
        ("string(1.0)", "1"),
        ("string(1.5)", "1.5"),
        ("string(-2.25)", "-2.25"),
        ("string(0.1)", "0.1"),
        ("string(123.456)", "123.456"),
        ("string(100000.0)", "100000"),
        ("string(1000000.0)", "1e+06"),
        ("string(123456789.0)", "1.23456789e+08"),
        ("string(1e20)", "1e+20"),
        ("string(1e21)", "1e+21"),
        ("string(0.0001)", "0.0001"),
        ("string(0.00001)", "1e-05"),
        ("string(1.5e-7)", "1.5e-07"),
        ("string(1.7976931348623157e308)", "1.7976931348623157e+308"),
        ("string(-0.0)", "-0"),
        ("string(double('inf'))", "+Inf"),
        ("string(double('-inf'))", "-Inf"),
        ("string(double('nan'))", "NaN"),
    ] {
        assert_eq!(eval(expr, &payload).unwrap(), expected, "{expr}");
    }
}

/// `timestamp(string)` reads RFC 3339 as cel-go does (Go's `time.RFC3339` layout): an
/// uppercase `T` between date and time, `Z` or an offset, no leap second; fractional seconds of
/// any precision.
#[test]
fn timestamps_parse_as_cel_go_parses_them() {
    let payload = serde_json::json!({});
    for (text, expected) in [
        ("2024-01-02T10:00:00Z", "2024-01-02T10:00:00Z"),
        ("2024-01-02T10:00:00.5Z", "2024-01-02T10:00:00.500Z"),
        (
            "2024-01-02T10:00:00.123456789Z",
            "2024-01-02T10:00:00.123456789Z",
        ),
        ("2024-01-02T11:30:00+01:30", "2024-01-02T10:00:00Z"),
    ] {
        let expr = format!("string(timestamp('{text}'))");
        let got = eval(&expr, &payload).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let got = got.as_str().unwrap();
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(got).unwrap(),
            chrono::DateTime::parse_from_rfc3339(expected).unwrap(),
            "{text}"
        );
    }
    for text in [
        "2024-01-02 10:00:00Z",
        "2024-01-02t10:00:00Z",
        "2024-01-02T10:00:00z",
        "2016-12-31T23:59:60Z",
        "2024-01-02",
        "2024-01-02T10:00:00",
        "2024-01-02T10:00:00+0100",
    ] {
        let expr = format!("timestamp('{text}')");
        assert!(eval(&expr, &payload).is_err(), "{text}");
    }
}
