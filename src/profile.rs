//! Routing profiles: which categories go DIRECT and which through the proxy.
//!
//! The presets match the two PAC types of Microsoft's generator. The HTTP service adds proxy
//! strings and client networks on top; the routing choice itself is decided here so `/decide`,
//! PAC files and exports can never disagree about it.

use serde::Serialize;

use crate::catalogue::Category;

/// Where allowed traffic goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Direct,
    Proxy,
}

/// A routing profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// Categories sent DIRECT; every other category goes to the proxy.
    pub direct: Vec<Category>,
}

impl Profile {
    /// Microsoft's type 1: Optimize direct, everything else to the proxy.
    pub fn type1() -> Profile {
        Profile {
            name: "type1".into(),
            direct: vec![Category::Optimize],
        }
    }

    /// Microsoft's type 2: Optimize and Allow direct, everything else to the proxy. The
    /// default, as Microsoft recommends for most networks.
    pub fn type2() -> Profile {
        Profile {
            name: "type2".into(),
            direct: vec![Category::Optimize, Category::Allow],
        }
    }

    pub fn route_for(&self, category: Category) -> Route {
        if self.direct.contains(&category) {
            Route::Direct
        } else {
            Route::Proxy
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::type2()
    }
}
