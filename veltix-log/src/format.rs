//! The line format (see the crate documentation): the formatter and the
//! visitor that collects an event's fields.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::clock::TimeOfDay;

/// Our line format; see the crate documentation.
pub(crate) struct VeltixFormat {
    pub(crate) timestamp: bool,
    /// Seconds east of UTC that timestamps are shifted by.
    pub(crate) utc_offset: i32,
    pub(crate) level: bool,
    pub(crate) caller: bool,
    pub(crate) color: bool,
}

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl VeltixFormat {
    fn paint(&self, w: &mut Writer<'_>, style: &str, text: fmt::Arguments<'_>) -> fmt::Result {
        if self.color {
            write!(w, "{style}{text}{RESET}")
        } else {
            w.write_fmt(text)
        }
    }
}

impl<S, N> FormatEvent<S, N> for VeltixFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);

        if self.timestamp {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let time = TimeOfDay::new(now, self.utc_offset);
            self.paint(&mut w, DIM, format_args!("[{time}]"))?;
            w.write_char(' ')?;
        }
        if self.level {
            let (tag, style) = match *meta.level() {
                Level::TRACE => ("TRACE", "\x1b[35m"),
                Level::DEBUG => ("DEBUG", "\x1b[34m"),
                Level::INFO if fields.ok => ("OK   ", "\x1b[1;32m"),
                Level::INFO => ("INFO ", "\x1b[32m"),
                Level::WARN => ("WARN ", "\x1b[33m"),
                Level::ERROR if fields.crit => ("CRIT ", "\x1b[1;37;41m"),
                Level::ERROR => ("ERROR", "\x1b[31m"),
            };
            self.paint(&mut w, style, format_args!("{tag}"))?;
            w.write_char(' ')?;
        }
        if self.caller
            && let Some(file) = meta.file()
        {
            let file = short_file(file);
            match meta.line() {
                Some(line) => self.paint(&mut w, DIM, format_args!("[{file}:{line}]"))?,
                None => self.paint(&mut w, DIM, format_args!("[{file}]"))?,
            }
            w.write_char(' ')?;
        }
        w.write_str(&fields.message)?;
        for (i, field) in fields.rest.iter().enumerate() {
            if i > 0 || !fields.message.is_empty() {
                w.write_char(' ')?;
            }
            w.write_str(field)?;
        }
        if let Some(scope) = ctx.event_scope() {
            let mut sep = " in ";
            for span in scope.from_root() {
                w.write_str(sep)?;
                sep = ":";
                w.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(f) = ext.get::<FormattedFields<N>>()
                    && !f.is_empty()
                {
                    write!(w, "{{{f}}}")?;
                }
            }
        }
        writeln!(w)
    }
}

/// The file name, with its parent folder when the name alone says little
/// (`connection/mod.rs`, not `mod.rs`).
fn short_file(path: &str) -> &str {
    let mut parts = path.rsplitn(3, ['/', '\\']);
    let name = parts.next().unwrap_or(path);
    match (name, parts.next()) {
        ("mod.rs" | "lib.rs" | "main.rs", Some(parent)) => {
            &path[path.len() - name.len() - parent.len() - 1..]
        }
        _ => name,
    }
}

/// An event's fields: the message, the `ok` / `crit` markers, the rest as
/// `name=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<String>,
    ok: bool,
    crit: bool,
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            "ok" if value => self.ok = true,
            "crit" if value => self.crit = true,
            _ => self.record_debug(field, &value),
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            use fmt::Write as _;
            let _ = write!(self.message, "{value:?}");
        } else {
            self.rest.push(format!("{}={value:?}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_file_names() {
        assert_eq!(short_file("veltix-driver/src/server.rs"), "server.rs");
        assert_eq!(
            short_file("veltix-core/src/connection/mod.rs"),
            "connection/mod.rs"
        );
        assert_eq!(short_file("main.rs"), "main.rs");
        assert_eq!(short_file("a.rs"), "a.rs");
    }
}
