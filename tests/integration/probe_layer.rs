//! The probe speaks through the registry HTTP layer: its bearer tokens come from the one
//! token fetcher, so a token server answering garbage is named as such, as for a copy.

use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::registry::{oci_copy_env, Registry, PASSWORD, USER};
use crate::support::token_server::TokenServer;
use crate::support::{describe, tempdir};

#[test]
fn the_probe_names_a_token_server_that_answers_garbage() {
    let tokens = TokenServer::start();
    let proxy = FaultProxy::start(&tokens.host, move |r| {
        if r.path.starts_with("/token") {
            Action::Respond {
                status: 200,
                headers: vec![],
                body: "<html>maintenance</html>".to_string(),
            }
        } else {
            Action::Pass
        }
    });
    let reg = Registry::start_with_token_realm(&tokens, &proxy.host);
    let home = tempdir();
    let creds = format!("{USER}:{PASSWORD}");
    let url = reg.url("probe/garbage");
    let args = ["probe", "--tls-verify=false", "--creds", &creds, &url];
    let out = oci_copy_env(&args, home.path(), &[]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!(
        "the token server at http://{}/token answered 200 with a body that is not a token: <html>maintenance</html>",
        proxy.host
    );
    assert!(all.contains(&want), "wanted {want:?}\n{}", describe(&out));
    assert!(!all.contains(PASSWORD), "the password leaked\n{all}");
}
