//! A minimal IAM policy evaluator, for when `SimulatePrincipalPolicy` is unavailable.
//!
//! It answers "may this set of identity policies do ACTION on RESOURCE, given these context
//! keys" with the parts of IAM's logic the proxy checks need: `Allow`/`Deny` statements,
//! `Action`/`NotAction` and `Resource`/`NotResource` with `*` and `?` wildcards (actions
//! case-insensitively), an explicit deny winning over any allow, and the condition operators
//! `StringEquals`, `StringLike`, `StringNotEquals`, `StringNotLike` (and their `IfExists`
//! forms, and `ForAnyValue:` prefixes) on the given context keys. Anything else in a condition
//! (other operators, unknown keys) cannot be judged, and the answer says so: an Allow whose
//! condition cannot be judged does not count, and a Deny whose condition cannot be judged
//! makes any Allow undecided; proxydoc reports "could not decide" rather than guess.
//!
//! KMS key policies, the one resource policy the proxy's checks need, are read by
//! [`key_policy_grant`]: the same statement logic, counting only statements whose `Principal`
//! names the role, `*` or the account. Other resource policies, permission boundaries, SCPs
//! and session policies are out of scope (IAM's own simulator weighs boundaries).

use serde_json::Value;

/// The outcome of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An Allow statement matched (and no Deny); names the policy that allowed it.
    Allowed { policy: String },
    /// A Deny statement matched; names the policy.
    Denied { policy: String },
    /// Nothing allowed it.
    NotAllowed,
    /// A statement that might allow it has a condition the evaluator cannot judge.
    Undecided { policy: String, why: String },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// A named policy document (JSON text as IAM returns it, URL-decoded).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    pub name: String,
    pub document: String,
}

/// Evaluates `action` on `resource` against `policies` with `context` (key, value) pairs.
pub fn evaluate(
    policies: &[Policy],
    action: &str,
    resource: &str,
    context: &[(&str, &str)],
) -> Decision {
    let mut allowed: Option<String> = None;
    let mut undecided: Option<(String, String)> = None;
    // A Deny that may apply: an Allow cannot be trusted while it stands.
    let mut deny_undecided: Option<(String, String)> = None;
    for policy in policies {
        let Ok(document) = serde_json::from_str::<Value>(&policy.document) else {
            undecided.get_or_insert((
                policy.name.clone(),
                "the policy document is not valid JSON".into(),
            ));
            continue;
        };
        for statement in statements(&document) {
            if !matches_action(statement, action) || !matches_resource(statement, resource) {
                continue;
            }
            let deny = statement.get("Effect").and_then(Value::as_str) == Some("Deny");
            match conditions_hold(statement.get("Condition"), context) {
                Ok(true) if deny => {
                    return Decision::Denied {
                        policy: policy.name.clone(),
                    };
                }
                Ok(true) => {
                    allowed.get_or_insert(policy.name.clone());
                }
                Ok(false) => {}
                Err(why) if !deny => {
                    undecided.get_or_insert((policy.name.clone(), why));
                }
                Err(why) => {
                    deny_undecided.get_or_insert((policy.name.clone(), why));
                }
            }
        }
    }
    match (allowed, deny_undecided, undecided) {
        (Some(_), Some((policy, why)), _) => Decision::Undecided {
            policy,
            why: format!("a Deny statement may apply: {why}"),
        },
        (Some(policy), None, _) => Decision::Allowed { policy },
        (None, _, Some((policy, why))) => Decision::Undecided { policy, why },
        (None, _, None) => Decision::NotAllowed,
    }
}

/// True when `trust` (a role's trust policy) lets `service` assume the role.
pub fn trusts_service(trust: &str, service: &str) -> bool {
    let Ok(document) = serde_json::from_str::<Value>(trust) else {
        return false;
    };
    statements(&document).any(|statement| {
        statement.get("Effect").and_then(Value::as_str) == Some("Allow")
            && strings(statement.get("Action"))
                .iter()
                .any(|a| wildcard(a, "sts:AssumeRole", true))
            && statement
                .get("Principal")
                .and_then(|p| p.get("Service"))
                .is_some_and(|s| strings(Some(s)).iter().any(|v| v == service))
    })
}

/// What a KMS key policy says about a role using the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyGrant {
    /// A statement names the role (or `*`): the key policy alone allows it.
    Role { statement: String },
    /// A statement names the account (`arn:aws:iam::ACCOUNT:root`): the role's own IAM
    /// policies decide.
    Account { statement: String },
    /// A Deny statement applies to the role.
    Denied { statement: String },
    /// No statement allows the role or its account.
    NotAllowed,
    /// A statement that might allow or deny it has a condition proxydoc cannot judge.
    Undecided { statement: String, why: String },
}

/// Evaluates `action` on the key `key_arn` for `role` (an IAM role ARN in `account`) against
/// `document`, a KMS key policy. Unlike an identity policy, a key policy names principals: a
/// statement counts only when its `Principal` is `*`, the role, or the account (the last only
/// delegates to IAM). Deny statements naming any of those apply to the role.
pub fn key_policy_grant(
    document: &str,
    role: &str,
    account: &str,
    action: &str,
    key_arn: &str,
    context: &[(&str, &str)],
) -> KeyGrant {
    let Ok(parsed) = serde_json::from_str::<Value>(document) else {
        return KeyGrant::Undecided {
            statement: "the key policy".into(),
            why: "the key policy is not valid JSON".into(),
        };
    };
    let root = format!("arn:aws:iam::{account}:root");
    let names = |statement: &Value| -> (bool, bool, bool) {
        // (names the role or everyone, names the account, has a principal we cannot read)
        let principals: Vec<String> = match statement.get("Principal") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Object(map)) => {
                map.get("AWS").map(|v| strings(Some(v))).unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let everyone = principals.iter().any(|p| p == "*");
        let role_named = everyone || principals.iter().any(|p| p == role);
        let account_named = principals.iter().any(|p| p == &root || p == account);
        let not_principal = statement.get("NotPrincipal").is_some();
        (role_named, account_named, not_principal)
    };
    let label = |index: usize, statement: &Value| {
        statement
            .get("Sid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map_or_else(
                || format!("statement {}", index + 1),
                |s| format!("statement {s:?}"),
            )
    };
    let mut role_allow: Option<String> = None;
    let mut account_allow: Option<String> = None;
    let mut undecided: Option<(String, String)> = None;
    let mut deny_undecided: Option<(String, String)> = None;
    for (index, statement) in statements(&parsed).enumerate() {
        if !matches_action(statement, action) || !matches_resource(statement, key_arn) {
            continue;
        }
        let deny = statement.get("Effect").and_then(Value::as_str) == Some("Deny");
        let (role_named, account_named, not_principal) = names(statement);
        if not_principal {
            let slot = if deny {
                &mut deny_undecided
            } else {
                &mut undecided
            };
            slot.get_or_insert((
                label(index, statement),
                "NotPrincipal is not evaluated by proxydoc".into(),
            ));
            continue;
        }
        if !role_named && !account_named {
            continue;
        }
        match conditions_hold(statement.get("Condition"), context) {
            Ok(true) if deny => {
                return KeyGrant::Denied {
                    statement: label(index, statement),
                };
            }
            Ok(true) if role_named => {
                role_allow.get_or_insert(label(index, statement));
            }
            Ok(true) => {
                account_allow.get_or_insert(label(index, statement));
            }
            Ok(false) => {}
            Err(why) => {
                let slot = if deny {
                    &mut deny_undecided
                } else {
                    &mut undecided
                };
                slot.get_or_insert((label(index, statement), why));
            }
        }
    }
    match (role_allow, account_allow, deny_undecided, undecided) {
        (None, None, _, None) => KeyGrant::NotAllowed,
        (_, _, Some((statement, why)), _) => KeyGrant::Undecided {
            statement,
            why: format!("a Deny statement may apply: {why}"),
        },
        (Some(statement), _, None, _) => KeyGrant::Role { statement },
        (None, Some(statement), None, _) => KeyGrant::Account { statement },
        (None, None, None, Some((statement, why))) => KeyGrant::Undecided { statement, why },
    }
}

fn statements(document: &Value) -> impl Iterator<Item = &Value> {
    let list: Vec<&Value> = match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item @ Value::Object(_)) => vec![item],
        _ => Vec::new(),
    };
    list.into_iter()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn matches_action(statement: &Value, action: &str) -> bool {
    if let Some(list) = statement.get("Action") {
        return strings(Some(list))
            .iter()
            .any(|p| wildcard(p, action, true));
    }
    if let Some(list) = statement.get("NotAction") {
        return !strings(Some(list))
            .iter()
            .any(|p| wildcard(p, action, true));
    }
    false
}

fn matches_resource(statement: &Value, resource: &str) -> bool {
    if let Some(list) = statement.get("Resource") {
        return strings(Some(list))
            .iter()
            .any(|p| wildcard(p, resource, false));
    }
    if let Some(list) = statement.get("NotResource") {
        return !strings(Some(list))
            .iter()
            .any(|p| wildcard(p, resource, false));
    }
    false
}

/// `Ok(true)` when every condition holds, `Ok(false)` when one does not, `Err` when one cannot
/// be judged.
fn conditions_hold(condition: Option<&Value>, context: &[(&str, &str)]) -> Result<bool, String> {
    let Some(Value::Object(operators)) = condition else {
        return Ok(true);
    };
    for (operator, keys) in operators {
        let Value::Object(keys) = keys else {
            return Err(format!("condition {operator} is malformed"));
        };
        let base = operator
            .trim_start_matches("ForAnyValue:")
            .trim_start_matches("ForAllValues:");
        let (base, if_exists) = match base.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (base, false),
        };
        for (key, expected) in keys {
            let expected = strings(Some(expected));
            let actual = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| *v);
            let Some(actual) = actual else {
                if if_exists {
                    continue;
                }
                return Err(format!(
                    "condition {operator} on {key}, a key proxydoc does not know here"
                ));
            };
            let holds = match base {
                "StringEquals" => expected.iter().any(|e| e == actual),
                "StringEqualsIgnoreCase" => expected.iter().any(|e| e.eq_ignore_ascii_case(actual)),
                "StringLike" => expected.iter().any(|e| wildcard(e, actual, false)),
                "StringNotEquals" => !expected.iter().any(|e| e == actual),
                "StringNotLike" => !expected.iter().any(|e| wildcard(e, actual, false)),
                other => {
                    return Err(format!(
                        "condition operator {other} is not evaluated by proxydoc"
                    ));
                }
            };
            if !holds {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// IAM wildcard match: `*` any run, `?` one character.
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut p, mut t) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            p += 1;
            mark = t;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == '*' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(document: &str) -> Vec<Policy> {
        vec![Policy {
            name: "p".into(),
            document: document.into(),
        }]
    }

    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/app-AbC";

    #[test]
    fn wildcards() {
        assert!(wildcard(
            "secretsmanager:Get*",
            "secretsmanager:GetSecretValue",
            false
        ));
        assert!(wildcard(
            "SecretsManager:getsecretvalue",
            "secretsmanager:GetSecretValue",
            true
        ));
        assert!(wildcard(
            "arn:aws:secretsmanager:*:*:secret:orders/*",
            SECRET,
            false
        ));
        assert!(wildcard("a?c", "abc", false));
        assert!(!wildcard("a?c", "ac", false));
        assert!(wildcard("*", "", false));
        assert!(!wildcard("x*", "yx", false));
    }

    #[test]
    fn allow_deny_and_not_allowed() {
        let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:*:secret:orders/*"}]}"#;
        assert!(
            evaluate(&policy(allow), "secretsmanager:GetSecretValue", SECRET, &[]).is_allowed()
        );
        assert_eq!(
            evaluate(
                &policy(allow),
                "kms:Decrypt",
                "arn:aws:kms:us-east-1:1:key/k",
                &[]
            ),
            Decision::NotAllowed
        );
        let mut both = policy(allow);
        both.push(Policy {
            name: "deny".into(),
            document:
                r#"{"Statement":{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*"}}"#
                    .into(),
        });
        assert_eq!(
            evaluate(&both, "secretsmanager:GetSecretValue", SECRET, &[]),
            Decision::Denied {
                policy: "deny".into()
            }
        );
        let not_action = r#"{"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#;
        assert!(evaluate(&policy(not_action), "kms:Decrypt", "k", &[]).is_allowed());
    }

    #[test]
    fn kms_via_service_condition() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}]}"#;
        let key = "arn:aws:kms:us-east-1:1:key/k";
        assert!(
            evaluate(
                &policy(doc),
                "kms:Decrypt",
                key,
                &[("kms:ViaService", "secretsmanager.us-east-1.amazonaws.com")]
            )
            .is_allowed()
        );
        assert_eq!(
            evaluate(
                &policy(doc),
                "kms:Decrypt",
                key,
                &[("kms:ViaService", "s3.us-east-1.amazonaws.com")]
            ),
            Decision::NotAllowed
        );
        let doc = r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
        assert!(matches!(
            evaluate(&policy(doc), "kms:Decrypt", key, &[]),
            Decision::Undecided { .. }
        ));
    }

    #[test]
    fn trust_policy() {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["rds.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#;
        assert!(trusts_service(trust, "rds.amazonaws.com"));
        let other = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert!(!trusts_service(other, "rds.amazonaws.com"));
        assert!(!trusts_service("not json", "rds.amazonaws.com"));
    }

    /// (statements, expected decision) for secretsmanager:GetSecretValue on SECRET, with
    /// `kms:ViaService` known and `aws:SourceVpce` not.
    #[test]
    fn an_undecidable_deny_never_lets_an_allow_win() {
        let allow = r#"{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}"#;
        let deny_unknown_key = r#"{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}}"#;
        let deny_unknown_operator = r#"{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#;
        let deny_not_applying = r#"{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}"#;
        let deny_applying = r#"{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}"#;
        let cases: [(&[&str], &str); 6] = [
            (&[allow], "allowed"),
            (&[allow, deny_unknown_key], "undecided"),
            (&[allow, deny_unknown_operator], "undecided"),
            (&[allow, deny_not_applying], "allowed"),
            (&[allow, deny_applying], "denied"),
            // Nothing allows it: a possible Deny changes nothing.
            (&[deny_unknown_key], "not allowed"),
        ];
        for (statements, expected) in cases {
            let document = format!(r#"{{"Statement":[{}]}}"#, statements.join(","));
            let got = match evaluate(
                &policy(&document),
                "secretsmanager:GetSecretValue",
                SECRET,
                &[("kms:ViaService", "secretsmanager.us-east-1.amazonaws.com")],
            ) {
                Decision::Allowed { .. } => "allowed",
                Decision::Denied { .. } => "denied",
                Decision::NotAllowed => "not allowed",
                Decision::Undecided { .. } => "undecided",
            };
            assert_eq!(got, expected, "{document}");
        }
    }

    /// Key policies: whom a statement names decides whether it counts for the role.
    #[test]
    fn key_policy_principals_table() {
        const ROLE: &str = "arn:aws:iam::111122223333:role/proxy-role";
        const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k";
        let via = [("kms:ViaService", "secretsmanager.us-east-1.amazonaws.com")];
        let doc =
            |statements: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
        let root = r#"{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}"#;
        let role = r#"{"Sid":"ProxyRole","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::999:role/x","arn:aws:iam::111122223333:role/proxy-role"]},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}"#;
        let other = r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"kms:*","Resource":"*"}"#;
        let everyone_via = r#"{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}"#;
        let deny_role = r#"{"Sid":"NoDecrypt","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:role/proxy-role"},"Action":"kms:Decrypt","Resource":"*"}"#;
        let deny_unknown = r#"{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:ViaAWSService":"false"}}}"#;
        let account_id = r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:Decrypt","Resource":"*"}"#;
        let cases: Vec<(String, KeyGrant)> = vec![
            (doc(root), KeyGrant::Account { statement: "statement \"Enable IAM User Permissions\"".into() }),
            (doc(account_id), KeyGrant::Account { statement: "statement 1".into() }),
            (doc(&format!("{root},{role}")), KeyGrant::Role { statement: "statement \"ProxyRole\"".into() }),
            (doc(other), KeyGrant::NotAllowed),
            (doc(everyone_via), KeyGrant::Role { statement: "statement 1".into() }),
            (doc(&format!("{role},{deny_role}")), KeyGrant::Denied { statement: "statement \"NoDecrypt\"".into() }),
            (doc(&format!("{root},{deny_unknown}")), KeyGrant::Undecided { statement: "statement 2".into(), why: "a Deny statement may apply: condition Bool on aws:ViaAWSService, a key proxydoc does not know here".into() }),
            (doc(deny_unknown), KeyGrant::NotAllowed),
            ("not json".into(), KeyGrant::Undecided { statement: "the key policy".into(), why: "the key policy is not valid JSON".into() }),
        ];
        for (document, expected) in cases {
            let got = key_policy_grant(&document, ROLE, "111122223333", "kms:Decrypt", KEY, &via);
            assert_eq!(got, expected, "{document}");
        }
        // Without the ViaService context, a statement conditioned on it is undecided.
        assert!(matches!(
            key_policy_grant(
                &doc(everyone_via),
                ROLE,
                "111122223333",
                "kms:Decrypt",
                KEY,
                &[]
            ),
            KeyGrant::Undecided { .. }
        ));
    }
}
