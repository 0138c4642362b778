//! A small SQL text builder: static SQL fragments plus bound parameters, with the placeholder
//! syntax of the backend. Request strings only ever travel as parameters.

use sea_orm::{DbBackend, Statement, Value};

/// SQL under construction.
pub struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// An empty statement for `backend`.
    pub fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            text: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    /// The backend the text is written for.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Whether the backend is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    /// Appends trusted SQL text (a literal of this crate, never request input).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        if self.is_postgres() {
            self.text.push('$');
            self.text.push_str(&self.values.len().to_string());
        } else {
            self.text.push('?');
        }
        self
    }

    /// Appends `(?, ?, ...)` for a list of values.
    pub fn bind_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        self.push("(");
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")")
    }

    /// The finished statement.
    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }

    /// The SQL text so far (tests and debugging).
    #[cfg(test)]
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    for character in value.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        let mut sqlite = Sql::new(DbBackend::Sqlite);
        sqlite
            .push("a = ")
            .bind(1i64)
            .push(" AND b IN ")
            .bind_list(["x", "y"]);
        assert_eq!(sqlite.text(), "a = ? AND b IN (?, ?)");
        let mut postgres = Sql::new(DbBackend::Postgres);
        postgres
            .push("a = ")
            .bind(1i64)
            .push(" AND b IN ")
            .bind_list(["x", "y"]);
        assert_eq!(postgres.text(), "a = $1 AND b IN ($2, $3)");
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
