//! The decoder's working graph: nodes that refer to each other by index,
//! so a memoized list shared by two parents is one node, and the walk that
//! turns the graph into a [`PyValue`] tree (iterative, depth-limited,
//! cycle-checked, under a size budget).

use crate::error::{ErrorKind, Result};
use crate::value::{Construct, Global, PyObject, PyValue};

pub(crate) type Id = u32;

#[derive(Debug)]
pub(crate) struct ObjectNode {
    pub(crate) class: Global,
    pub(crate) construct: Construct,
    pub(crate) args: Vec<Id>,
    pub(crate) kwargs: Vec<(Id, Id)>,
    pub(crate) state: Option<Id>,
}

#[derive(Debug)]
pub(crate) enum Node {
    /// A value without children (also a `Global`).
    Leaf(PyValue),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    FrozenSet(Vec<Id>),
    Object(Box<ObjectNode>),
}

impl Node {
    pub(crate) fn object(
        class: Global,
        construct: Construct,
        args: Vec<Id>,
        kwargs: Vec<(Id, Id)>,
    ) -> Node {
        Node::Object(Box::new(ObjectNode {
            class,
            construct,
            args,
            kwargs,
            state: None,
        }))
    }

    fn children(&self) -> Vec<Id> {
        match self {
            Node::Leaf(_) => Vec::new(),
            Node::Tuple(v) | Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => v.clone(),
            Node::Dict(pairs) => pairs.iter().flat_map(|&(k, v)| [k, v]).collect(),
            Node::Object(o) => {
                let mut all = o.args.clone();
                all.extend(o.kwargs.iter().flat_map(|&(k, v)| [k, v]));
                all.extend(o.state);
                all
            }
        }
    }
}

/// How to assemble a container once its children are on the output stack.
enum Shape {
    Tuple(usize),
    List(usize),
    Dict(usize),
    Set(usize),
    FrozenSet(usize),
    Object {
        class: Global,
        construct: Construct,
        args: usize,
        kwargs: usize,
        state: bool,
    },
}

enum Task {
    Visit { id: Id, depth: usize, shared: bool },
    Finish { id: Id, shape: Shape },
}

#[derive(Debug)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    /// How many container slots (and the root) hold each node.
    uses: Vec<u32>,
    budget: usize,
    spent: usize,
}

impl Arena {
    pub(crate) fn new(budget: usize) -> Arena {
        Arena {
            nodes: Vec::new(),
            uses: Vec::new(),
            budget,
            spent: 0,
        }
    }

    /// Counts `units` (items or payload bytes) against the budget.
    pub(crate) fn charge(&mut self, units: usize) -> Result<()> {
        self.spent = self.spent.saturating_add(units);
        if self.spent > self.budget {
            return Err(ErrorKind::TooLarge { limit: self.budget }.into());
        }
        Ok(())
    }

    pub(crate) fn add(&mut self, node: Node) -> Result<Id> {
        self.charge(1)?;
        let id = Id::try_from(self.nodes.len())
            .map_err(|_| ErrorKind::TooLarge { limit: self.budget })?;
        self.nodes.push(node);
        self.uses.push(0);
        Ok(id)
    }

    pub(crate) fn node(&self, id: Id) -> &Node {
        &self.nodes[id as usize]
    }

    pub(crate) fn node_mut(&mut self, id: Id) -> &mut Node {
        &mut self.nodes[id as usize]
    }

    pub(crate) fn add_use(&mut self, id: Id) {
        let uses = &mut self.uses[id as usize];
        *uses = uses.saturating_add(1);
    }

    pub(crate) fn add_uses_of(&mut self, node: &Node) {
        for id in node.children() {
            self.add_use(id);
        }
    }

    /// Walks the graph from `root` into a tree. A node held by one slot on
    /// an unshared path is moved out; anything shared is copied (and
    /// charged).
    pub(crate) fn into_value(mut self, root: Id, max_depth: usize) -> Result<PyValue> {
        let mut on_path = vec![false; self.nodes.len()];
        let mut tasks = vec![Task::Visit {
            id: root,
            depth: 0,
            shared: false,
        }];
        let mut out: Vec<PyValue> = Vec::new();
        while let Some(task) = tasks.pop() {
            match task {
                Task::Visit { id, depth, shared } => {
                    let index = id as usize;
                    if on_path[index] {
                        return Err(ErrorKind::Recursive.into());
                    }
                    // Moved out only on its last visit along an unshared path.
                    let last = !shared && self.uses[index] <= 1;
                    if !shared && self.uses[index] > 1 {
                        self.uses[index] -= 1;
                    }
                    if let Node::Leaf(value) = &mut self.nodes[index] {
                        self.spent = self.spent.saturating_add(1 + payload_len(value));
                        if self.spent > self.budget {
                            return Err(ErrorKind::TooLarge { limit: self.budget }.into());
                        }
                        out.push(if last {
                            std::mem::replace(value, PyValue::None)
                        } else {
                            value.clone()
                        });
                        continue;
                    }
                    if depth >= max_depth {
                        return Err(ErrorKind::TooDeep { limit: max_depth }.into());
                    }
                    let node = &self.nodes[index];
                    let children = node.children();
                    let shape = match node {
                        Node::Leaf(_) => unreachable!("leaves are handled above"),
                        Node::Tuple(v) => Shape::Tuple(v.len()),
                        Node::List(v) => Shape::List(v.len()),
                        Node::Dict(v) => Shape::Dict(v.len()),
                        Node::Set(v) => Shape::Set(v.len()),
                        Node::FrozenSet(v) => Shape::FrozenSet(v.len()),
                        Node::Object(o) => Shape::Object {
                            class: o.class.clone(),
                            construct: o.construct,
                            args: o.args.len(),
                            kwargs: o.kwargs.len(),
                            state: o.state.is_some(),
                        },
                    };
                    self.charge(1 + children.len())?;
                    on_path[index] = true;
                    tasks.push(Task::Finish { id, shape });
                    let shared = !last;
                    tasks.extend(children.into_iter().rev().map(|id| Task::Visit {
                        id,
                        depth: depth + 1,
                        shared,
                    }));
                }
                Task::Finish { id, shape } => {
                    on_path[id as usize] = false;
                    let value = assemble(&mut out, shape);
                    out.push(value);
                }
            }
        }
        Ok(out.pop().expect("the root leaves one value"))
    }
}

fn payload_len(value: &PyValue) -> usize {
    match value {
        PyValue::Str(s) => s.len(),
        PyValue::Bytes(b) | PyValue::ByteArray(b) => b.len(),
        PyValue::BigInt(b) => b.to_le_bytes().len(),
        PyValue::Global(g) => g.module.len() + g.name.len(),
        _ => 0,
    }
}

fn pairs(flat: Vec<PyValue>) -> Vec<(PyValue, PyValue)> {
    let mut pairs = Vec::with_capacity(flat.len() / 2);
    let mut items = flat.into_iter();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        pairs.push((k, v));
    }
    pairs
}

fn assemble(out: &mut Vec<PyValue>, shape: Shape) -> PyValue {
    let mut take = |n: usize| out.split_off(out.len() - n);
    match shape {
        Shape::Tuple(n) => PyValue::Tuple(take(n)),
        Shape::List(n) => PyValue::List(take(n)),
        Shape::Set(n) => PyValue::Set(take(n)),
        Shape::FrozenSet(n) => PyValue::FrozenSet(take(n)),
        Shape::Dict(n) => PyValue::Dict(pairs(take(2 * n))),
        Shape::Object {
            class,
            construct,
            args,
            kwargs,
            state,
        } => {
            let state = if state { take(1).pop() } else { None };
            let kwargs = pairs(take(2 * kwargs));
            let args = take(args);
            PyValue::Object(Box::new(PyObject {
                class,
                construct,
                args,
                kwargs,
                state,
            }))
        }
    }
}
