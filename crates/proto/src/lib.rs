//! Types generated from `proto/`. Only a service's gRPC and event modules use these; the domain
//! lives in `komek-core` and converts at the boundary.

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

/// Encoded `FileDescriptorSet` of every Komek proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/komek_descriptor.bin"));

pub mod types {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.types.v1.rs"));
    }
}
pub mod intake {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.intake.v1.rs"));
    }
}
pub mod triage {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.triage.v1.rs"));
    }
}
pub mod roster {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.roster.v1.rs"));
    }
}
pub mod matching {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.matching.v1.rs"));
    }
}
pub mod partner {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.partner.v1.rs"));
    }
}
pub mod places {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.places.v1.rs"));
    }
}
pub mod access {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.access.v1.rs"));
    }
}
pub mod events {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.events.v1.rs"));
    }
}
pub mod ops {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/komek.ops.v1.rs"));
    }
}
