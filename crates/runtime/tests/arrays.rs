//! Arrays per row through `unnest`, against a real PostgreSQL: what goes in comes back.

use komek_runtime::db::{array_literal, text_array_literal};
use komek_testkit::TestDb;
use sqlx::PgPool;

#[tokio::test]
async fn arrays_of_each_row_come_back_as_they_went() {
    let db = TestDb::create().await;
    let pool = PgPool::connect(db.url()).await.unwrap();
    let texts: Vec<Vec<String>> = vec![
        vec![],
        vec![String::new()],
        vec!["NULL".into(), "null".into()],
        vec!["a,b".into(), "{x}".into(), "\"quoted\"".into()],
        vec!["back\\slash".into(), "\\\"".into(), "  spaced  ".into()],
        vec!["Көмек керек".into(), "line\nbreak\ttab".into(), "'".into()],
        vec!["help=қарт|жалғыз".into()],
    ];
    let literals: Vec<String> = texts.iter().map(|t| text_array_literal(t)).collect();
    let back: Vec<Vec<String>> = sqlx::query_scalar(
        "SELECT u.x::text[] FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
    )
    .bind(&literals)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(back, texts);

    let numbers: Vec<Vec<i16>> = vec![vec![], vec![1], vec![-3, 0, 7]];
    let literals: Vec<String> = numbers.iter().map(|n| array_literal(n)).collect();
    let back: Vec<Vec<i16>> = sqlx::query_scalar(
        "SELECT u.x::int2[] FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
    )
    .bind(&literals)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(back, numbers);
}
