//! Where the server may connect to fetch a camera's frames. A camera's URL is given by an admin
//! but fetched by the server from inside the network, so it must not become a way to reach
//! what the admin could not: link-local addresses (a cloud's metadata service at
//! 169.254.169.254 hands out credentials) are refused always, and `capture.allowed_networks`,
//! when set, confines cameras to their own networks. Names are checked as they resolve, at
//! every connection, so a name that later resolves elsewhere is caught too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    allowed: Arc<Vec<IpNet>>,
}

impl NetworkPolicy {
    /// From `capture.allowed_networks`; each entry a CIDR network or a single address.
    pub fn new(list: &[String]) -> Result<NetworkPolicy, String> {
        let allowed = list
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("capture.allowed_networks: {s:?} is not a network such as 192.168.10.0/24"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetworkPolicy { allowed: Arc::new(allowed) })
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let ip = ip.to_canonical();
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
        if link_local {
            return Err(format!("{ip} is a link-local address (such as a cloud metadata service): not a camera"));
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|n| n.contains(&ip)) {
            return Err(format!("{ip} is outside capture.allowed_networks"));
        }
        Ok(())
    }

    /// Checks a URL whose host is an address; names are checked when they resolve.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        match parsed.host() {
            Some(url::Host::Ipv4(v4)) => self.check_ip(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => self.check_ip(IpAddr::V6(v6)),
            _ => Ok(()),
        }
    }

    /// Resolves a name now and checks every address, for an answer at the time a camera is
    /// added; a name that does not resolve yet is let through (the camera may come later).
    pub async fn check_name(&self, url: &str) -> Result<(), String> {
        self.check_url(url)?;
        let Ok(parsed) = reqwest::Url::parse(url) else { return Ok(()) };
        let (Some(url::Host::Domain(host)), Some(port)) = (parsed.host(), parsed.port_or_known_default()) else {
            return Ok(());
        };
        if let Ok(addrs) = tokio::net::lookup_host((host, port)).await {
            for a in addrs {
                self.check_ip(a.ip()).map_err(|e| format!("{host} resolves to {e}"))?;
            }
        }
        Ok(())
    }
}

/// The camera client resolves names through the policy: addresses it refuses are never
/// connected to.
impl reqwest::dns::Resolve for NetworkPolicy {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.check_ip(a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused = Some(e);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| "no address".into());
                return Err(format!("{host}: {why}").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_is_refused_always_and_the_list_confines() {
        let open = NetworkPolicy::default();
        assert!(open.check_url("http://169.254.169.254/latest/meta-data/").is_err());
        assert!(open.check_url("http://[fe80::1]/stream").is_err());
        assert!(open.check_url("http://[::ffff:169.254.169.254]/").is_err());
        assert!(open.check_url("http://192.168.1.20:81/stream").is_ok());
        assert!(open.check_url("http://cam.local/stream").is_ok(), "names are checked when they resolve");
        let lan = NetworkPolicy::new(&["192.168.10.0/24".into(), "10.1.2.3".into()]).unwrap();
        assert!(lan.check_url("http://192.168.10.7/").is_ok());
        assert!(lan.check_url("http://10.1.2.3/").is_ok());
        assert!(lan.check_url("http://192.168.11.7/").is_err());
        assert!(lan.check_url("http://127.0.0.1/").is_err());
        assert!(NetworkPolicy::new(&["not-a-net".into()]).is_err());
    }

    #[tokio::test]
    async fn a_name_is_checked_as_it_resolves() {
        let lan = NetworkPolicy::new(&["192.168.10.0/24".into()]).unwrap();
        let err = lan.check_name("http://localhost:81/stream").await.unwrap_err();
        assert!(err.contains("outside"), "{err}");
        let res = reqwest::Client::builder()
            .dns_resolver(Arc::new(lan))
            .build()
            .unwrap()
            .get("http://localhost:9/")
            .send()
            .await;
        let e = res.unwrap_err();
        let chain = format!("{:?}", e);
        assert!(chain.contains("outside capture.allowed_networks"), "{chain}");
    }
}
