//! Building and running the service: connect and migrate the database, obtain the KEK, make
//! sure a signing key exists, load the key set, bind the listener, serve until a shutdown
//! signal, and run the background tasks beside it.

mod app;
mod background;
mod database;
mod kek;
mod key_refresh;
mod policy;
mod serve;
mod signal;
mod wiring;

pub use self::app::App;
pub use self::database::{connect_database, database_options, migrate_database, open_database};
pub use self::kek::key_encryption_key;
pub use self::policy::token_policy;
pub use self::signal::shutdown_signal;
