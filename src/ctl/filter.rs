//! Building structured filters (the `Filter` AST of `common.proto`) from command-line flags.

use roster::pb::filter::Node;
use roster::pb::filter_value::Kind;
use roster::pb::{AttributePath, CompareOp, Comparison, Filter, FilterList, FilterValue};

/// `attribute eq "value"`, or `attribute.sub_attribute eq "value"` when `sub_attribute` is not
/// empty.
pub fn eq(attribute: &str, sub_attribute: &str, value: &str) -> Filter {
    Filter {
        node: Some(Node::Compare(Comparison {
            path: Some(AttributePath {
                schema: String::new(),
                attribute: attribute.to_owned(),
                sub_attribute: sub_attribute.to_owned(),
            }),
            op: CompareOp::Eq.into(),
            value: Some(FilterValue {
                kind: Some(Kind::StringValue(value.to_owned())),
            }),
        })),
    }
}

/// All of `filters`: none is no filter, one is itself, more are combined with `and`.
pub fn all(mut filters: Vec<Filter>) -> Option<Filter> {
    match filters.len() {
        0 | 1 => filters.pop(),
        _ => Some(Filter {
            node: Some(Node::And(FilterList { filters })),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq_builds_a_string_comparison() {
        let Some(Node::Compare(comparison)) = eq("emails", "value", "a@example.com").node else {
            panic!("not a comparison");
        };
        let path = comparison.path.clone().unwrap();
        assert_eq!(
            (path.attribute.as_str(), path.sub_attribute.as_str()),
            ("emails", "value")
        );
        assert_eq!(comparison.op(), CompareOp::Eq);
        assert_eq!(
            comparison.value.unwrap().kind,
            Some(Kind::StringValue("a@example.com".to_owned()))
        );
    }

    #[test]
    fn all_combines_only_when_needed() {
        assert_eq!(all(Vec::new()), None);
        let one = eq("userName", "", "alice");
        assert_eq!(all(vec![one.clone()]), Some(one.clone()));
        let Some(Filter {
            node: Some(Node::And(list)),
        }) = all(vec![one.clone(), one])
        else {
            panic!("not an and");
        };
        assert_eq!(list.filters.len(), 2);
    }
}
