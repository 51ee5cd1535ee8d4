//! Wildcard patterns and policy-variable templates.
//!
//! A policy string (an action, a resource ARN, a condition value) is compiled once, at parse
//! time, into a [`Template`]: a list of literal tokens and `${variable}` references. At
//! evaluation the variables are resolved from the request context and the result is matched
//! with [`glob`]. Resolved variable text is always literal: a user named `*` does not become a
//! wildcard, and `${*}`, `${?}` and `${$}` are the way to write a literal `*`, `?` or `$`.

use std::borrow::Cow;

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A character that must appear as is.
    Char(char),
    /// `*`: any run of characters, including none (and including `/` and `:`).
    Star,
    /// `?`: exactly one character.
    One,
}

/// Matches `text` against `pattern`. Linear in practice: on a mismatch only the most recent
/// `*` is retried, which is enough for patterns made of literals, `*` and `?`.
pub(crate) fn glob(pattern: &[Tok], text: &str) -> bool {
    let mut p = 0usize;
    let mut t = 0usize;
    // (pattern index after the last `*`, text index that `*` currently extends to)
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = text.get(t..).and_then(|rest| rest.chars().next()) {
        match pattern.get(p) {
            Some(Tok::Star) => {
                p += 1;
                star = Some((p, t));
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                t += c.len_utf8();
                continue;
            }
            Some(Tok::Char(x)) if *x == c => {
                p += 1;
                t += c.len_utf8();
                continue;
            }
            _ => {}
        }
        match star {
            Some((after_star, star_t)) => {
                let skipped = text
                    .get(star_t..)
                    .and_then(|rest| rest.chars().next())
                    .map_or(1, char::len_utf8);
                let next_t = star_t + skipped;
                star = Some((after_star, next_t));
                p = after_star;
                t = next_t;
            }
            None => return false,
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|tok| *tok == Tok::Star))
}

/// Matches an ARN against an ARN pattern the way IAM does: the six colon-separated parts
/// (`arn:partition:service:region:account:resource`, the last one keeping any further colons)
/// are matched separately, so a wildcard never spans a `:` between parts.
pub(crate) fn arn_glob(pattern: &[Tok], arn: &str) -> bool {
    let mut pattern_parts = pattern.splitn(6, |tok| *tok == Tok::Char(':'));
    let mut arn_parts = arn.splitn(6, ':');
    let mut parts = 0;
    loop {
        match (pattern_parts.next(), arn_parts.next()) {
            (Some(p), Some(a)) => {
                if !glob(p, a) {
                    return false;
                }
                parts += 1;
            }
            (None, None) => return parts == 6,
            _ => return false,
        }
    }
}

/// How a policy string is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (StringLike, ArnLike, Action, Resource) rather than literals.
    pub wildcards: bool,
    /// `${…}` is a policy variable (policy version 2012-10-17, in the elements that take them).
    pub variables: bool,
    /// Compare without case (actions, the IgnoreCase operators): literals are lowercased here
    /// and resolved variables at evaluation.
    pub fold_case: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Toks(Vec<Tok>),
    Var {
        /// The context key, lowercased (keys are case-insensitive).
        key: String,
        /// `${key, 'default'}`: used when the key has no single value.
        default: Option<String>,
    },
}

/// A compiled policy string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
    fold_case: bool,
}

impl Template {
    pub(crate) fn compile(source: &str, syntax: Syntax) -> Template {
        let mut parts = Vec::new();
        let mut toks = Vec::new();
        let mut rest = source;
        while let Some(c) = rest.chars().next() {
            if syntax.variables
                && rest.starts_with("${")
                && let Some((inner, after)) = rest
                    .get(2..)
                    .and_then(|r| r.split_once('}'))
                    .filter(|(inner, _)| !inner.contains("${"))
            {
                match parse_variable(inner) {
                    Some(Variable::Literal(ch)) => {
                        toks.push(Tok::Char(ch));
                        rest = after;
                        continue;
                    }
                    Some(Variable::Key { key, default }) => {
                        if !toks.is_empty() {
                            parts.push(Part::Toks(std::mem::take(&mut toks)));
                        }
                        parts.push(Part::Var { key, default });
                        rest = after;
                        continue;
                    }
                    None => {}
                }
            }
            toks.push(match c {
                '*' if syntax.wildcards => Tok::Star,
                '?' if syntax.wildcards => Tok::One,
                _ => Tok::Char(c),
            });
            rest = rest.get(c.len_utf8()..).unwrap_or_default();
        }
        if !toks.is_empty() || parts.is_empty() {
            parts.push(Part::Toks(toks));
        }
        let mut template = Template {
            parts,
            fold_case: syntax.fold_case,
        };
        if syntax.fold_case {
            for part in &mut template.parts {
                if let Part::Toks(toks) = part {
                    *toks = fold_toks(toks);
                }
            }
        }
        template
    }

    /// Resolves the variables with `lookup` (given a lowercased key, the key's single value as
    /// text). `None` when a variable has no value and no default: the template then matches
    /// nothing.
    pub(crate) fn resolve<'a>(
        &'a self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Cow<'a, [Tok]>> {
        if let [Part::Toks(toks)] = self.parts.as_slice() {
            return Some(Cow::Borrowed(toks));
        }
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Toks(toks) => out.extend_from_slice(toks),
                Part::Var { key, default } => {
                    let value = lookup(key).or_else(|| default.clone())?;
                    if self.fold_case {
                        out.extend(value.to_lowercase().chars().map(Tok::Char));
                    } else {
                        out.extend(value.chars().map(Tok::Char));
                    }
                }
            }
        }
        Some(Cow::Owned(out))
    }

    /// The template when it has no variables.
    pub(crate) fn as_static(&self) -> Option<&[Tok]> {
        match self.parts.as_slice() {
            [Part::Toks(toks)] => Some(toks),
            _ => None,
        }
    }
}

fn fold_toks(toks: &[Tok]) -> Vec<Tok> {
    let mut out = Vec::with_capacity(toks.len());
    for tok in toks {
        match tok {
            Tok::Char(c) => out.extend(c.to_lowercase().map(Tok::Char)),
            other => out.push(*other),
        }
    }
    out
}

enum Variable {
    Literal(char),
    Key {
        key: String,
        default: Option<String>,
    },
}

/// Reads the inside of `${…}`: `*`, `?`, `$` (escapes), `key`, or `key, 'default'` (a quote
/// inside the default is written `''`). Anything else is not a variable and stays literal text.
fn parse_variable(inner: &str) -> Option<Variable> {
    match inner {
        "*" => return Some(Variable::Literal('*')),
        "?" => return Some(Variable::Literal('?')),
        "$" => return Some(Variable::Literal('$')),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((key, default)) => {
            let default = default.trim();
            let quoted = default.strip_prefix('\'')?.strip_suffix('\'')?;
            // Every quote inside must be doubled.
            let unescaped = quoted.replace("''", "'");
            if unescaped.matches('\'').count() * 2 != quoted.matches('\'').count() {
                return None;
            }
            (key.trim(), Some(unescaped))
        }
    };
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c == '\'') {
        return None;
    }
    Some(Variable::Key {
        key: key.to_ascii_lowercase(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIKE: Syntax = Syntax {
        wildcards: true,
        variables: true,
        fold_case: false,
    };

    fn toks(s: &str) -> Vec<Tok> {
        Template::compile(
            s,
            Syntax {
                wildcards: true,
                variables: false,
                fold_case: false,
            },
        )
        .as_static()
        .unwrap()
        .to_vec()
    }

    #[test]
    fn glob_basics() {
        assert!(glob(&toks("*"), ""));
        assert!(glob(&toks("*"), "anything/at:all"));
        assert!(glob(&toks("kms:Get*"), "kms:GetKeyPolicy"));
        assert!(!glob(&toks("kms:Get*"), "kms:ListKeys"));
        assert!(glob(&toks("a?c"), "abc"));
        assert!(!glob(&toks("a?c"), "ac"));
        assert!(glob(&toks("a*b*c"), "aXbYbZc"));
        assert!(!glob(&toks("a*b*c"), "aXbYbZ"));
        assert!(glob(&toks("*.txt"), "dir/file.txt"));
        assert!(glob(&toks("é?"), "éü"));
        assert!(!glob(&toks(""), "x"));
        assert!(glob(&toks(""), ""));
        assert!(glob(&toks("**?"), "x"));
    }

    #[test]
    fn arn_parts_are_matched_separately() {
        let p = toks("arn:aws:kms:*:111122223333:key/*");
        assert!(arn_glob(&p, "arn:aws:kms:us-east-1:111122223333:key/1234"));
        assert!(!arn_glob(&p, "arn:aws:kms:us-east-1:444455556666:key/1234"));
        // A `*` in one part does not swallow the next part's colon.
        assert!(!arn_glob(
            &toks("arn:aws:*:111122223333:key/*"),
            "arn:aws:kms:us-east-1:111122223333:key/1"
        ));
        // The resource part keeps its own colons.
        assert!(arn_glob(
            &toks("arn:aws:secretsmanager:*:*:secret:db-*"),
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"
        ));
        assert!(!arn_glob(&toks("*"), "arn:aws:kms:r:a:key/x"));
        assert!(!arn_glob(&toks("arn:aws:kms:*:*:key/*"), "not-an-arn"));
    }

    #[test]
    fn variables_escapes_and_defaults() {
        let lookup = |key: &str| (key == "aws:username").then(|| "a*b".to_owned());
        let t = Template::compile("home/${aws:username}/*", LIKE);
        let resolved = t.resolve(&lookup).unwrap();
        assert!(glob(&resolved, "home/a*b/x"));
        // The resolved `*` is literal.
        assert!(!glob(&resolved, "home/aXb/x"));

        let t = Template::compile("${aws:PrincipalTag/team}", LIKE);
        assert!(t.resolve(&lookup).is_none());
        let t = Template::compile("${aws:PrincipalTag/team, 'it''s'}", LIKE);
        assert!(glob(&t.resolve(&lookup).unwrap(), "it's"));

        let t = Template::compile("a${*}b${?}${$}", LIKE);
        let r = t.resolve(&lookup).unwrap();
        assert!(glob(&r, "a*b?$"));
        assert!(!glob(&r, "aXb?$"));

        // Not variables: left as written.
        let t = Template::compile("${unterminated", LIKE);
        assert!(glob(&t.resolve(&lookup).unwrap(), "${unterminated"));
        let t = Template::compile("${}", LIKE);
        assert!(glob(&t.resolve(&lookup).unwrap(), "${}"));
    }

    #[test]
    fn variables_off_in_old_versions() {
        let t = Template::compile(
            "${aws:username}",
            Syntax {
                wildcards: true,
                variables: false,
                fold_case: false,
            },
        );
        assert!(glob(t.as_static().unwrap(), "${aws:username}"));
    }

    #[test]
    fn fold_case() {
        let t = Template::compile(
            "KMS:Get*",
            Syntax {
                wildcards: true,
                variables: false,
                fold_case: true,
            },
        );
        assert!(glob(t.as_static().unwrap(), "kms:getkeypolicy"));
    }
}
