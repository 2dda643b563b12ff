//! PostgreSQL's ordered-set and hypothetical-set aggregates, written with WITHIN GROUP:
//! `percentile_disc(f) WITHIN GROUP (ORDER BY x)` (f a fraction or an array of fractions),
//! `mode() WITHIN GROUP (ORDER BY x)`, and `rank(h)`, `dense_rank(h)`, `percent_rank(h)`,
//! `cume_dist(h) WITHIN GROUP (ORDER BY x)`, which place the hypothetical value h among the
//! group's values.
//!
//! DataFusion hands such an aggregate its ordering value first, then the direct arguments.
//! The direct arguments are constant within a group (PostgreSQL requires it); the first
//! row's are used. The hypothetical-set aggregates are registered under internal names
//! ([`HYPOTHETICAL_PREFIX`]), which [`crate::rewrite`] gives a call with WITHIN GROUP:
//! under their own names DataFusion would also take them for the window functions.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::error::SqlError;

/// The prefix of the internal names of the hypothetical-set aggregates.
pub const HYPOTHETICAL_PREFIX: &str = "__pg_hypothetical_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    PercentileDisc,
    Mode,
    Rank,
    DenseRank,
    PercentRank,
    CumeDist,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OrderedSet {
    name: String,
    kind: Kind,
    signature: Signature,
}

/// The ordered-set aggregates, to register in a session.
pub fn udafs() -> Vec<AggregateUDF> {
    let hypothetical = |name: &str| format!("{HYPOTHETICAL_PREFIX}{name}");
    [
        ("percentile_disc".to_owned(), Kind::PercentileDisc),
        ("mode".to_owned(), Kind::Mode),
        (hypothetical("rank"), Kind::Rank),
        (hypothetical("dense_rank"), Kind::DenseRank),
        (hypothetical("percent_rank"), Kind::PercentRank),
        (hypothetical("cume_dist"), Kind::CumeDist),
    ]
    .into_iter()
    .map(|(name, kind)| {
        AggregateUDF::from(OrderedSet {
            name,
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    })
    .collect()
}

fn error(e: SqlError) -> datafusion::error::DataFusionError {
    e.into_datafusion()
}

impl AggregateUDFImpl for OrderedSet {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        let shown = self.name.trim_start_matches(HYPOTHETICAL_PREFIX);
        let direct = match self.kind {
            Kind::Mode => 0,
            _ => 1,
        };
        if arg_types.len() != direct + 1 {
            return Err(error(SqlError::UndefinedFunction(format!(
                "function {shown} needs WITHIN GROUP (ORDER BY …) with one ordering column and {direct} direct argument(s)"
            ))));
        }
        let value = arg_types[0].clone();
        Ok(match self.kind {
            Kind::Mode => value,
            Kind::PercentileDisc => match &arg_types[1] {
                DataType::List(_) => DataType::new_list(value, true),
                _ => value,
            },
            Kind::Rank | Kind::DenseRank => DataType::Int64,
            Kind::PercentRank | Kind::CumeDist => DataType::Float64,
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        let list = |part: &str, f: &FieldRef| {
            Arc::new(Field::new(
                format_state_name(args.name, part),
                DataType::new_list(f.data_type().clone(), true),
                true,
            ))
        };
        let mut out = vec![list("values", &args.input_fields[0])];
        if let Some(direct) = args.input_fields.get(1) {
            out.push(list("direct", direct));
        }
        Ok(out)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let options = args
            .order_bys
            .first()
            .map(|s| s.options)
            .unwrap_or_default();
        Ok(Box::new(OrderedSetAccumulator {
            kind: self.kind,
            options,
            value_type: args.expr_fields[0].data_type().clone(),
            direct_type: args
                .expr_fields
                .get(1)
                .map_or(DataType::Null, |f| f.data_type().clone()),
            return_type: args.return_field.data_type().clone(),
            values: Vec::new(),
            direct: None,
        }))
    }
}

#[derive(Debug)]
struct OrderedSetAccumulator {
    kind: Kind,
    options: SortOptions,
    value_type: DataType,
    direct_type: DataType,
    return_type: DataType,
    values: Vec<ScalarValue>,
    direct: Option<ScalarValue>,
}

/// `a` against `b` in the WITHIN GROUP order (NULLs last ascending, first descending, unless
/// said otherwise).
fn compare(a: &ScalarValue, b: &ScalarValue, o: SortOptions) -> Ordering {
    let ord = match (a.is_null(), b.is_null()) {
        (true, true) => return Ordering::Equal,
        (true, false) => {
            return if o.nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (false, true) => {
            return if o.nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    };
    if o.descending {
        ord.reverse()
    } else {
        ord
    }
}

impl OrderedSetAccumulator {
    fn take_direct(&mut self, array: &ArrayRef) -> DfResult<()> {
        if self.direct.is_none() && !array.is_empty() {
            self.direct = Some(ScalarValue::try_from_array(array, 0)?);
        }
        Ok(())
    }

    /// The group's non-NULL values, sorted.
    fn sorted(&self) -> Vec<ScalarValue> {
        let mut v: Vec<ScalarValue> = self
            .values
            .iter()
            .filter(|v| !v.is_null())
            .cloned()
            .collect();
        v.sort_by(|a, b| compare(a, b, self.options));
        v
    }

    fn percentile_disc(&self) -> DfResult<ScalarValue> {
        let sorted = self.sorted();
        let pick = |f: &ScalarValue| -> DfResult<ScalarValue> {
            if f.is_null() {
                return ScalarValue::try_from(&self.value_type);
            }
            let f = match f.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(Some(f)) => f,
                _ => return ScalarValue::try_from(&self.value_type),
            };
            if !(0.0..=1.0).contains(&f) {
                return Err(error(SqlError::OutOfRange(format!(
                    "percentile value {f} is not between 0 and 1"
                ))));
            }
            if sorted.is_empty() {
                return ScalarValue::try_from(&self.value_type);
            }
            let n = sorted.len();
            let position = ((f * n as f64).ceil() as usize).clamp(1, n);
            Ok(sorted[position - 1].clone())
        };
        match &self.direct {
            Some(ScalarValue::List(list)) => {
                if list.is_null(0) {
                    return ScalarValue::try_from(&self.return_type);
                }
                let fractions = list.value(0);
                let picked = (0..fractions.len())
                    .map(|i| pick(&ScalarValue::try_from_array(&fractions, i)?))
                    .collect::<DfResult<Vec<_>>>()?;
                Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                    &picked,
                    &self.value_type,
                )))
            }
            Some(f) => pick(f),
            None => ScalarValue::try_from(&self.return_type),
        }
    }

    /// The most frequent value; among equally frequent ones, the first in the order.
    fn mode(&self) -> DfResult<ScalarValue> {
        let sorted = self.sorted();
        let mut best: Option<(&ScalarValue, usize)> = None;
        let mut i = 0;
        while i < sorted.len() {
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == sorted[i] {
                j += 1;
            }
            if best.is_none_or(|(_, count)| j - i > count) {
                best = Some((&sorted[i], j - i));
            }
            i = j;
        }
        match best {
            Some((v, _)) => Ok(v.clone()),
            None => ScalarValue::try_from(&self.value_type),
        }
    }

    /// Where the hypothetical row would fall among the group's rows (NULLs included).
    fn hypothetical(&self) -> DfResult<ScalarValue> {
        let h = match &self.direct {
            Some(h) if h.data_type() != self.value_type && !h.is_null() => {
                h.cast_to(&self.value_type)?
            }
            Some(h) => h.clone(),
            None => ScalarValue::try_from(&self.value_type)?,
        };
        let o = self.options;
        let n = self.values.len();
        let before = self
            .values
            .iter()
            .filter(|v| compare(v, &h, o) == Ordering::Less)
            .count();
        let not_after = self
            .values
            .iter()
            .filter(|v| compare(v, &h, o) != Ordering::Greater)
            .count();
        Ok(match self.kind {
            Kind::Rank => ScalarValue::Int64(Some(before as i64 + 1)),
            Kind::DenseRank => {
                let mut distinct: Vec<&ScalarValue> = self
                    .values
                    .iter()
                    .filter(|v| compare(v, &h, o) == Ordering::Less)
                    .collect();
                distinct.sort_by(|a, b| compare(a, b, o));
                distinct.dedup_by(|a, b| compare(a, b, o) == Ordering::Equal);
                ScalarValue::Int64(Some(distinct.len() as i64 + 1))
            }
            Kind::PercentRank => ScalarValue::Float64(Some(if n == 0 {
                0.0
            } else {
                before as f64 / n as f64
            })),
            Kind::CumeDist => ScalarValue::Float64(Some((not_after + 1) as f64 / (n + 1) as f64)),
            Kind::PercentileDisc | Kind::Mode => {
                return Err(error(SqlError::Internal("not hypothetical".into())))
            }
        })
    }
}

impl Accumulator for OrderedSetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        for i in 0..values[0].len() {
            self.values
                .push(ScalarValue::try_from_array(&values[0], i)?);
        }
        if let Some(direct) = values.get(1) {
            self.take_direct(direct)?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let lists = |a: &ArrayRef| -> DfResult<Vec<ArrayRef>> {
            let list = a
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or_else(|| error(SqlError::Internal("ordered-set state".into())))?;
            Ok((0..list.len())
                .filter(|&i| !list.is_null(i))
                .map(|i| list.value(i))
                .collect())
        };
        for part in lists(&states[0])? {
            for i in 0..part.len() {
                self.values.push(ScalarValue::try_from_array(&part, i)?);
            }
        }
        if let Some(direct) = states.get(1) {
            for part in lists(direct)? {
                self.take_direct(&part)?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let mut out = vec![ScalarValue::List(ScalarValue::new_list_nullable(
            &self.values,
            &self.value_type,
        ))];
        if self.kind != Kind::Mode {
            let direct: Vec<ScalarValue> = self.direct.iter().cloned().collect();
            out.push(ScalarValue::List(ScalarValue::new_list_nullable(
                &direct,
                &self.direct_type,
            )));
        }
        Ok(out)
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        match self.kind {
            Kind::PercentileDisc => self.percentile_disc(),
            Kind::Mode => self.mode(),
            _ => self.hypothetical(),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.iter().map(ScalarValue::size).sum::<usize>()
    }
}
