//! NUMA placement of iovec memory, through hwloc (hwlocality).
//!
//! Node numbers are the OS's (as `numactl --membind` and
//! `/sys/devices/system/node/nodeN` use). The topology is read once per
//! process; it is plain data, so a forked child reuses it.

use std::sync::atomic::AtomicU8;
use std::sync::OnceLock;

use hwlocality::bitmap::BitmapIndex;
use hwlocality::memory::binding::{MemoryBindingFlags, MemoryBindingPolicy};
use hwlocality::object::types::ObjectType;
use hwlocality::topology::Topology;

use crate::error::{Error, Result};

fn topology() -> std::result::Result<&'static Topology, String> {
    static TOPOLOGY: OnceLock<std::result::Result<Topology, String>> = OnceLock::new();
    TOPOLOGY
        .get_or_init(|| Topology::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The machine's NUMA nodes (OS numbers), ascending.
pub fn nodes() -> Result<Vec<usize>> {
    let topo = topology().map_err(|e| Error::Topology {
        reason: format!("cannot read the topology: {e}"),
    })?;
    let mut out: Vec<usize> = topo
        .objects_with_type(ObjectType::NUMANode)
        .filter_map(|o| o.os_index())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Check that `node` is a NUMA node of this machine (`-1` = no binding).
pub fn check_node(op: &str, node: i32) -> Result<()> {
    if node == -1 {
        return Ok(());
    }
    let known = nodes()?;
    if usize::try_from(node).is_ok_and(|n| known.contains(&n)) {
        return Ok(());
    }
    let list: Vec<String> = known.iter().map(usize::to_string).collect();
    Err(Error::invalid(
        op,
        format!(
            "NUMA node {node} does not exist on this machine (nodes: {}; use -1 for no binding)",
            list.join(", ")
        ),
    ))
}

/// Bind `len` bytes at `addr` to `node` (strictly: pages come from that node
/// or allocation fails). Called on fresh, untouched mappings, so there are no
/// pages to migrate (hwlocality refuses `MIGRATE` for area bindings anyway).
///
/// # Safety
/// `addr..addr + len` must be a mapping this process owns.
pub unsafe fn bind_area(addr: *mut u8, len: usize, node: i32) -> Result<()> {
    let topo = topology().map_err(|e| Error::Topology {
        reason: format!("cannot read the topology: {e}"),
    })?;
    let index = BitmapIndex::try_from(node as usize)
        .map_err(|_| Error::invalid(format!("NUMA node {node}"), "out of hwloc's range"))?;
    let mut set = hwlocality::memory::nodeset::NodeSet::new();
    set.set(index);
    // SAFETY: the caller owns the mapping. The area is viewed as atomics, so
    // no Rust code assumes its bytes are unchanging while the kernel (or
    // another process sharing it) writes them.
    let area = unsafe { std::slice::from_raw_parts(addr.cast::<AtomicU8>(), len) };
    topo.bind_memory_area(
        area,
        &set,
        MemoryBindingPolicy::Bind,
        MemoryBindingFlags::STRICT,
    )
    .map_err(|e| Error::Topology {
        reason: format!("cannot bind memory to NUMA node {node}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_has_a_node_and_unknown_nodes_are_refused() {
        let nodes = nodes().unwrap();
        assert!(!nodes.is_empty());
        check_node("t", -1).unwrap();
        check_node("t", nodes[0] as i32).unwrap();
        let missing = (nodes.last().unwrap() + 1) as i32;
        let err = check_node("iovalloc", missing).unwrap_err().to_string();
        assert!(
            err.contains(&format!("NUMA node {missing} does not exist")),
            "{err}"
        );
        assert!(check_node("t", -2).is_err());
    }

    #[test]
    fn binding_to_an_existing_node_works() {
        let node = nodes().unwrap()[0] as i32;
        let mem = crate::iov::IovMemory::alloc(1 << 20, 0, node).unwrap();
        assert_eq!(mem.numa(), node);
    }
}
