//! Bus connection settings (`--bus.*`) and the role rule of routing keys, shared by the
//! client and the reference server.

use percent_encoding::utf8_percent_encode;

/// The toolkit's `bus` option group. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BusSettings {
    /// URI scheme, `amqp` or `amqps` (`--bus.protocol`).
    pub protocol: String,
    /// Broker host name or address (`--bus.hostname`, `RABBITMQ_HOST`).
    pub hostname: String,
    /// Broker port (`--bus.port`, `RABBITMQ_PORT`; 5672 by default).
    pub port: u16,
    /// Broker user (`--bus.username`).
    pub username: String,
    /// Broker password (`--bus.password`): only in [`BusSettings::amqp_uri`], never logged.
    pub password: String,
    /// Virtual host, `/` by default (`--bus.vhost`).
    pub vhost: String,
    /// The direct exchange both commands and deployment messages are published on
    /// (`--bus.commandsExchange`).
    pub commands_exchange: String,
    /// Routing key of commands, before the role suffix (`--bus.commandRoutingKey`).
    pub command_routing_key: String,
    /// Routing key of maintenance (deployment) messages, before the role suffix
    /// (`--bus.deploymentRoutingKey`).
    pub deployment_routing_key: String,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            protocol: super::DEFAULT_BUS_PROTOCOL.into(),
            hostname: super::DEFAULT_BUS_HOSTNAME.into(),
            port: super::DEFAULT_BUS_PORT,
            username: super::DEFAULT_BUS_USERNAME.into(),
            password: super::DEFAULT_BUS_PASSWORD.into(),
            vhost: super::DEFAULT_BUS_VHOST.into(),
            commands_exchange: super::DEFAULT_COMMANDS_EXCHANGE.into(),
            command_routing_key: super::DEFAULT_COMMAND_ROUTING_KEY.into(),
            deployment_routing_key: super::DEFAULT_DEPLOYMENT_ROUTING_KEY.into(),
        }
    }
}

impl std::fmt::Debug for BusSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusSettings")
            .field("endpoint", &self.describe())
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("commands_exchange", &self.commands_exchange)
            .field("command_routing_key", &self.command_routing_key)
            .field("deployment_routing_key", &self.deployment_routing_key)
            .finish()
    }
}

impl BusSettings {
    /// The connection URI with user, password and vhost percent-encoded (unlike the
    /// toolkit, so `@`, `:` and `/` in a password work). Contains the password: never log it.
    pub fn amqp_uri(&self) -> String {
        let enc = |s: &str| utf8_percent_encode(s, super::http::URI_COMPONENT).to_string();
        format!(
            "{}://{}:{}@{}:{}/{}",
            self.protocol,
            enc(&self.username),
            enc(&self.password),
            self.hostname,
            self.port,
            enc(&self.vhost)
        )
    }

    /// `amqp://host:port/vhost`, without credentials (for logs and reports).
    pub fn describe(&self) -> String {
        format!(
            "{}://{}:{}/{}",
            self.protocol, self.hostname, self.port, self.vhost
        )
    }
}

/// `routing_key` plus `_<role>` when `role` is set and not `active` (the toolkit's rule).
pub fn routing_key_with_role(routing_key: &str, role: Option<&str>) -> String {
    match role {
        Some(r) if !r.is_empty() && r != super::ACTIVE_ROLE => format!("{routing_key}_{r}"),
        _ => routing_key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_encoded_and_secrets_stay_out_of_debug() {
        let b = BusSettings {
            password: "p@ss:/w".into(),
            ..Default::default()
        };
        assert_eq!(
            b.amqp_uri(),
            "amqp://guest:p%40ss%3A%2Fw@localhost:5672/%2F"
        );
        assert!(!format!("{b:?}").contains("p@ss"));
        assert_eq!(b.describe(), "amqp://localhost:5672//");
    }
}
