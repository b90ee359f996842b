//! [`List`]: how the model holds a statement's lists (values, principal entries,
//! conditions). Most have one element (a `Resource` of `"*"`, one principal, one condition
//! value), which it keeps inline: a parse then allocates per list only when there are several.

use std::ops::{Deref, DerefMut};

/// A list that holds one element without allocating; read it as a slice.
///
/// Unlike `smallvec`'s, it is covariant in `T`, so a `Policy<'text>` borrowed for a shorter
/// time still reads as a `Policy` of that shorter lifetime (the evaluator relies on this).
#[derive(Clone)]
pub struct List<T>(Repr<T>);

#[derive(Clone)]
enum Repr<T> {
    One(T),
    /// None, or more than one (never exactly one).
    Many(Vec<T>),
}

impl<T> List<T> {
    /// An empty list.
    pub const fn new() -> Self {
        List(Repr::Many(Vec::new()))
    }

    /// Adds `item` at the end.
    pub fn push(&mut self, item: T) {
        match &mut self.0 {
            Repr::Many(items) if !items.is_empty() => items.push(item),
            repr => {
                *repr = match std::mem::replace(repr, Repr::Many(Vec::new())) {
                    Repr::One(first) => Repr::Many(vec![first, item]),
                    Repr::Many(_) => Repr::One(item),
                }
            }
        }
    }

    /// Keeps the elements for which `keep` holds, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        match &mut self.0 {
            Repr::One(item) if !keep(item) => self.0 = Repr::Many(Vec::new()),
            Repr::One(_) => {}
            Repr::Many(items) => {
                items.retain(keep);
                if items.len() == 1
                    && let Some(last) = items.pop()
                {
                    self.0 = Repr::One(last);
                }
            }
        }
    }
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List::new()
    }
}

impl<T> Deref for List<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.0 {
            Repr::One(item) => std::slice::from_ref(item),
            Repr::Many(items) => items,
        }
    }
}

impl<T> DerefMut for List<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.0 {
            Repr::One(item) => std::slice::from_mut(item),
            Repr::Many(items) => items,
        }
    }
}

impl<T> FromIterator<T> for List<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut items = items.into_iter();
        let Some(first) = items.next() else {
            return List::new();
        };
        match items.next() {
            None => List(Repr::One(first)),
            Some(second) => {
                let mut all = Vec::with_capacity(2 + items.size_hint().0);
                all.push(first);
                all.push(second);
                all.extend(items);
                List(Repr::Many(all))
            }
        }
    }
}

impl<T> Extend<T> for List<T> {
    /// Sized once from what `items` says it holds: three principal entries take one
    /// allocation, where pushing them one by one took an allocation and a regrowth.
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        let items = items.into_iter();
        match std::mem::take(self).0 {
            Repr::One(first) => *self = std::iter::once(first).chain(items).collect(),
            Repr::Many(mut all) if !all.is_empty() => {
                all.extend(items);
                self.0 = Repr::Many(all);
            }
            Repr::Many(_) => *self = items.collect(),
        }
    }
}

impl<'l, T> IntoIterator for &'l List<T> {
    type Item = &'l T;
    type IntoIter = std::slice::Iter<'l, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for List<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq<U>, U> PartialEq<List<U>> for List<T> {
    fn eq(&self, other: &List<U>) -> bool {
        **self == **other
    }
}

impl<T: PartialEq<U>, U, const N: usize> PartialEq<[U; N]> for List<T> {
    fn eq(&self, other: &[U; N]) -> bool {
        **self == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(items: &[u32]) -> List<u32> {
        items.iter().copied().collect()
    }

    #[test]
    fn it_reads_as_the_slice_of_what_was_put_in() {
        for n in 0..5 {
            let items: Vec<u32> = (0..n).collect();
            assert_eq!(*of(&items), *items);
            let mut pushed = List::new();
            items.iter().for_each(|&i| pushed.push(i));
            assert_eq!(*pushed, *items);
            let mut extended = of(&[9]);
            extended.extend(items.iter().copied());
            assert_eq!(extended.len(), n as usize + 1);
            assert_eq!(extended[0], 9);
        }
    }

    #[test]
    fn extending_any_list_appends_in_order_and_keeps_one_element_inline() {
        for start in 0..4 {
            for added in 0..4 {
                let before: Vec<u32> = (0..start).collect();
                let more: Vec<u32> = (10..10 + added).collect();
                let want: Vec<u32> = before.iter().chain(&more).copied().collect();
                // An exact size hint, and none (a filter's lower bound is zero).
                let mut exact = of(&before);
                exact.extend(more.iter().copied());
                let mut unhinted = of(&before);
                unhinted.extend(more.iter().copied().filter(|_| true));
                for list in [exact, unhinted] {
                    assert_eq!(*list, *want, "{start} + {added}");
                    assert_eq!(matches!(list.0, Repr::One(_)), want.len() == 1);
                }
            }
        }
    }

    #[test]
    fn equality_is_by_elements_whatever_the_representation() {
        let mut two = of(&[1, 2]);
        two.retain(|&i| i == 1);
        assert_eq!(two, of(&[1]));
        assert_eq!(two, [1]);
        assert_ne!(of(&[1]), of(&[1, 1]));
        assert_eq!(List::<u32>::new(), of(&[]));
    }

    #[test]
    fn retain_keeps_order_and_can_empty_any_list() {
        let mut list = of(&[1, 2, 3, 4]);
        list.retain(|&i| i % 2 == 0);
        assert_eq!(list, [2, 4]);
        list.retain(|_| false);
        assert!(list.is_empty());
        let mut one = of(&[7]);
        one.retain(|&i| i == 7);
        assert_eq!(one, [7]);
        one.retain(|&i| i != 7);
        assert!(one.is_empty());
    }

    #[test]
    fn elements_can_be_changed_in_place() {
        let mut one = of(&[1]);
        one[0] = 5;
        let mut many = of(&[1, 2]);
        many[1] = 6;
        assert_eq!((one, many), (of(&[5]), of(&[1, 6])));
    }
}
