// `sqlx::migrate!` embeds the migrations when this crate compiles, and Cargo watches only the
// files it already read: without this, a build after adding a migration (and no other change
// to the crate) kept the old set, and the service started without the new migration.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
