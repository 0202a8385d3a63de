use std::cell::Cell;
use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::level::LogLevel;
use crate::tools::HookTools;

thread_local! {
    // juju-log itself may emit tracing events (a failing tool); never feed them back.
    static FORWARDING: Cell<bool> = const { Cell::new(false) };
}

/// A `tracing` layer that sends every event at or above `min_level` to `juju-log`, so a
/// charm's `tracing::warn!` shows in `juju debug-log` as a WARNING of the unit.
pub struct JujuLogLayer<T> {
    tools: T,
    min_level: LogLevel,
}

impl<T: HookTools> JujuLogLayer<T> {
    pub fn new(tools: T, min_level: LogLevel) -> Self {
        JujuLogLayer { tools, min_level }
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

impl<S, T> Layer<S> for JujuLogLayer<T>
where
    S: Subscriber,
    T: HookTools + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = LogLevel::from(event.metadata().level());
        if level < self.min_level || FORWARDING.with(std::cell::Cell::get) {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let text = format!("{}{}", visitor.message, visitor.fields);
        FORWARDING.with(|f| f.set(true));
        // Logging must never fail a hook: a lost log line is better than a retried hook.
        let _ = self.tools.juju_log(level, &text);
        FORWARDING.with(|f| f.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn levels_parse_like_juju_log() {
        assert_eq!(LogLevel::parse("warn"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::parse("Critical"), Some(LogLevel::Critical));
        assert_eq!(LogLevel::parse("loud"), None);
        assert_eq!(LogLevel::from(&Level::WARN).as_str(), "WARNING");
    }
}
