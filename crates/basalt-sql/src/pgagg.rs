//! PostgreSQL's aggregates where DataFusion's differ:
//! - float variance and standard deviation with PostgreSQL's Youngs-Cramer transition, whose
//!   state (N, Sx, Sxx) gives NaN for infinite or NaN input, and the transition functions
//!   PostgreSQL exposes for them (`float8_accum`, `float8_combine`, `float8_regr_accum`,
//!   `float8_regr_combine`), and `booland_statefunc` / `boolor_statefunc`;
//! - numeric `sum` and `avg` over NaN and ±Infinity (counted beside the finite sum, as
//!   PostgreSQL's NumericAggState counts them);
//! - window frames that slide, for aggregates without an inverse transition: PostgreSQL
//!   computes each frame again from its rows (float sums must not subtract, and an aggregate
//!   that cannot retract a row still works over a sliding frame).
//!
//! Invariant: a wrapper keeps the name of the aggregate it wraps, so plans and column names
//! read as they did.

use std::collections::VecDeque;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, Float64Builder,
    ListBuilder, UInt64Array,
};
use datafusion::arrow::compute::{cast, filter};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Schema};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, Expr, ExprSchemable,
    GroupsAccumulator, ReversedUDAF, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility, WindowFunctionDefinition,
};
use datafusion::physical_expr::PhysicalSortExpr;
use datafusion::physical_plan::PhysicalExpr;

use crate::error::SqlError;
use crate::numeric::{is_special, NAN, NEG_INF, POS_INF};

fn overflow() -> datafusion::error::DataFusionError {
    SqlError::OutOfRange("value out of range: overflow".into()).into_datafusion()
}

/// PostgreSQL's `float8_pl`: a sum that becomes infinite from finite operands overflows.
fn checked_add(a: f64, b: f64) -> DfResult<f64> {
    let sum = a + b;
    if sum.is_infinite() && !a.is_infinite() && !b.is_infinite() {
        return Err(overflow());
    }
    Ok(sum)
}

/// The state of PostgreSQL's float variance aggregates: N, the sum of the values and the sum
/// of squared differences from their mean, kept by the Youngs-Cramer algorithm.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct YoungsCramer {
    pub n: f64,
    pub sx: f64,
    pub sxx: f64,
}

impl YoungsCramer {
    /// Adds one value (`float8_accum`). Sxx is NaN once an input is infinite or NaN; a finite
    /// input that makes a sum infinite is an overflow error.
    pub fn accum(&mut self, x: f64) -> DfResult<()> {
        let (old_n, old_sx) = (self.n, self.sx);
        self.n += 1.0;
        self.sx += x;
        if old_n > 0.0 {
            let tmp = x * self.n - self.sx;
            self.sxx += tmp * tmp / (self.n * old_n);
            if self.sx.is_infinite() || self.sxx.is_infinite() {
                if !old_sx.is_infinite() && !x.is_infinite() {
                    return Err(overflow());
                }
                self.sxx = f64::NAN;
            }
        } else if x.is_nan() || x.is_infinite() {
            self.sxx = f64::NAN;
        }
        Ok(())
    }

    /// Two states of disjoint inputs as one (`float8_combine`).
    pub fn combine(self, other: YoungsCramer) -> DfResult<YoungsCramer> {
        if self.n == 0.0 {
            return Ok(other);
        }
        if other.n == 0.0 {
            return Ok(self);
        }
        let n = self.n + other.n;
        let sx = checked_add(self.sx, other.sx)?;
        let tmp = self.sx / self.n - other.sx / other.n;
        let sxx = self.sxx + other.sxx + self.n * other.n * tmp * tmp / n;
        if sxx.is_infinite() && !self.sxx.is_infinite() && !other.sxx.is_infinite() {
            return Err(overflow());
        }
        Ok(YoungsCramer { n, sx, sxx })
    }
}

/// The state of PostgreSQL's two-variable float aggregates (N, Sx, Sxx, Sy, Syy, Sxy).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RegrState {
    pub n: f64,
    pub sx: f64,
    pub sxx: f64,
    pub sy: f64,
    pub syy: f64,
    pub sxy: f64,
}

impl RegrState {
    /// Adds one pair (`float8_regr_accum`; Y is the first argument of the aggregates).
    pub fn accum(&mut self, y: f64, x: f64) -> DfResult<()> {
        let old = *self;
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        if old.n > 0.0 {
            let tmp_x = x * self.n - self.sx;
            let tmp_y = y * self.n - self.sy;
            let scale = 1.0 / (self.n * old.n);
            self.sxx += tmp_x * tmp_x * scale;
            self.syy += tmp_y * tmp_y * scale;
            self.sxy += tmp_x * tmp_y * scale;
            let inf = |v: f64| v.is_infinite();
            if inf(self.sx) || inf(self.sxx) || inf(self.sy) || inf(self.syy) || inf(self.sxy) {
                let finite_x = !inf(old.sx) && !inf(x);
                let finite_y = !inf(old.sy) && !inf(y);
                if ((inf(self.sx) || inf(self.sxx)) && finite_x)
                    || ((inf(self.sy) || inf(self.syy)) && finite_y)
                    || (inf(self.sxy) && finite_x && finite_y)
                {
                    return Err(overflow());
                }
                for v in [&mut self.sxx, &mut self.syy, &mut self.sxy] {
                    if v.is_infinite() {
                        *v = f64::NAN;
                    }
                }
            }
        } else {
            if x.is_nan() || x.is_infinite() {
                self.sxx = f64::NAN;
                self.sxy = f64::NAN;
            }
            if y.is_nan() || y.is_infinite() {
                self.syy = f64::NAN;
                self.sxy = f64::NAN;
            }
        }
        Ok(())
    }

    /// Two states of disjoint inputs as one (`float8_regr_combine`).
    pub fn combine(self, other: RegrState) -> DfResult<RegrState> {
        if self.n == 0.0 {
            return Ok(other);
        }
        if other.n == 0.0 {
            return Ok(self);
        }
        let n = self.n + other.n;
        let grown = |total: f64, a: f64, b: f64| -> DfResult<f64> {
            if total.is_infinite() && !a.is_infinite() && !b.is_infinite() {
                return Err(overflow());
            }
            Ok(total)
        };
        let sx = checked_add(self.sx, other.sx)?;
        let tmp1 = self.sx / self.n - other.sx / other.n;
        let sxx = grown(
            self.sxx + other.sxx + self.n * other.n * tmp1 * tmp1 / n,
            self.sxx,
            other.sxx,
        )?;
        let sy = checked_add(self.sy, other.sy)?;
        let tmp2 = self.sy / self.n - other.sy / other.n;
        let syy = grown(
            self.syy + other.syy + self.n * other.n * tmp2 * tmp2 / n,
            self.syy,
            other.syy,
        )?;
        let sxy = grown(
            self.sxy + other.sxy + self.n * other.n * tmp1 * tmp2 / n,
            self.sxy,
            other.sxy,
        )?;
        Ok(RegrState {
            n,
            sx,
            sxx,
            sy,
            syy,
            sxy,
        })
    }
}

// ---------------------------------------------------------------------------------------
// var_pop, var_samp, stddev_pop, stddev_samp (variance, stddev) over double precision

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Spread {
    VarPop,
    VarSamp,
    StddevPop,
    StddevSamp,
}

impl Spread {
    fn finish(self, s: YoungsCramer) -> Option<f64> {
        let (sample, root) = match self {
            Spread::VarPop => (false, false),
            Spread::VarSamp => (true, false),
            Spread::StddevPop => (false, true),
            Spread::StddevSamp => (true, true),
        };
        let divisor = if sample { s.n - 1.0 } else { s.n };
        if divisor <= 0.0 {
            return None;
        }
        let v = s.sxx / divisor;
        Some(if root { v.sqrt() } else { v })
    }
}

/// A float variance or standard deviation with PostgreSQL's transition. DISTINCT inputs go to
/// DataFusion's own accumulator (`fallback`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgSpread {
    name: &'static str,
    aliases: Vec<String>,
    kind: Spread,
    fallback: Arc<AggregateUDF>,
    signature: Signature,
}

impl AggregateUDFImpl for PgSpread {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        if args.is_distinct {
            return self.fallback.state_fields(args);
        }
        Ok(["n", "sx", "sxx"]
            .into_iter()
            .map(|part| {
                Arc::new(Field::new(
                    format_state_name(args.name, part),
                    DataType::Float64,
                    true,
                ))
            })
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        if args.is_distinct {
            return self.fallback.accumulator(args);
        }
        Ok(Box::new(SpreadAccumulator {
            kind: self.kind,
            state: YoungsCramer::default(),
        }))
    }
}

#[derive(Debug)]
struct SpreadAccumulator {
    kind: Spread,
    state: YoungsCramer,
}

fn floats(array: &ArrayRef) -> DfResult<ArrayRef> {
    if array.data_type() == &DataType::Float64 {
        return Ok(Arc::clone(array));
    }
    Ok(cast(array, &DataType::Float64)?)
}

impl Accumulator for SpreadAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let values = floats(&values[0])?;
        for x in values.as_primitive::<Float64Type>().iter().flatten() {
            self.state.accum(x)?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(ScalarValue::Float64(self.kind.finish(self.state)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let s = self.state;
        Ok(vec![
            ScalarValue::Float64(Some(s.n)),
            ScalarValue::Float64(Some(s.sx)),
            ScalarValue::Float64(Some(s.sxx)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let [n, sx, sxx] = states else {
            return Err(SqlError::Internal("variance state expected".into()).into_datafusion());
        };
        let (n, sx, sxx) = (
            n.as_primitive::<Float64Type>(),
            sx.as_primitive::<Float64Type>(),
            sxx.as_primitive::<Float64Type>(),
        );
        for i in 0..n.len() {
            if n.is_null(i) {
                continue;
            }
            let other = YoungsCramer {
                n: n.value(i),
                sx: sx.value(i),
                sxx: sxx.value(i),
            };
            self.state = self.state.combine(other)?;
        }
        Ok(())
    }
}

/// The float variance and standard deviation aggregates of PostgreSQL sessions, to register
/// in place of DataFusion's (`variance` is `var_samp`, `stddev` is `stddev_samp`).
pub fn spread_udafs(ctx: &datafusion::execution::context::SessionContext) -> Vec<AggregateUDF> {
    let state = ctx.state();
    let fallback = |name: &str| state.aggregate_functions().get(name).cloned();
    let mut out = Vec::new();
    for (name, aliases, kind, df) in [
        ("var_pop", vec![], Spread::VarPop, "var_pop"),
        ("var_samp", vec!["variance"], Spread::VarSamp, "var_samp"),
        ("stddev_pop", vec![], Spread::StddevPop, "stddev_pop"),
        ("stddev_samp", vec!["stddev"], Spread::StddevSamp, "stddev"),
    ] {
        let Some(fallback) = fallback(df) else {
            continue;
        };
        out.push(AggregateUDF::from(PgSpread {
            name,
            aliases: aliases.into_iter().map(String::from).collect(),
            kind,
            fallback,
            signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
        }));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Numeric sum and avg over NaN and ±Infinity

/// Counts of NaN, +Infinity and -Infinity inputs.
#[derive(Debug, Default, Clone, Copy)]
struct Specials {
    nan: u64,
    pos: u64,
    neg: u64,
}

impl Specials {
    fn add(&mut self, v: i128, sign: i64) {
        let slot = match v {
            NAN => &mut self.nan,
            POS_INF => &mut self.pos,
            _ => &mut self.neg,
        };
        *slot = slot.wrapping_add_signed(sign);
    }

    /// The result PostgreSQL gives when special values were seen: NaN, or the one infinity
    /// (both infinities make NaN).
    fn result(&self) -> Option<i128> {
        if self.nan > 0 || self.pos > 0 && self.neg > 0 {
            Some(NAN)
        } else if self.pos > 0 {
            Some(POS_INF)
        } else if self.neg > 0 {
            Some(NEG_INF)
        } else {
            None
        }
    }
}

fn decimal_values(array: &ArrayRef) -> DfResult<&Decimal128Array> {
    array
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .ok_or_else(|| SqlError::Internal("numeric value expected".into()).into_datafusion())
}

/// Whether any valid value is special (one pass, the common case answered by the bound of
/// the values' magnitude).
fn any_special(d: &Decimal128Array) -> bool {
    crate::numeric::may_hold_special(d)
        && (0..d.len()).any(|i| d.is_valid(i) && is_special(d.value(i)))
}

/// The rows to keep (not special), with `filter` applied; and calls `each(row, value)` for
/// every special value in a row the filter keeps.
fn split_specials(
    d: &Decimal128Array,
    filter: Option<&BooleanArray>,
    mut each: impl FnMut(usize, i128),
) -> BooleanArray {
    (0..d.len())
        .map(|i| {
            let passes = filter.is_none_or(|f| f.is_valid(i) && f.value(i));
            if d.is_valid(i) && is_special(d.value(i)) {
                if passes {
                    each(i, d.value(i));
                }
                Some(false)
            } else {
                Some(passes)
            }
        })
        .collect()
}

/// Numeric `sum` or `avg` that accepts NaN and ±Infinity (DataFusion's own accumulator sums
/// the finite values).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NumericSpecials {
    inner: Arc<AggregateUDF>,
}

impl NumericSpecials {
    pub fn wrap(inner: Arc<AggregateUDF>) -> Arc<AggregateUDF> {
        Arc::new(AggregateUDF::new_from_impl(NumericSpecials { inner }))
    }

    /// Whether `f` is already wrapped.
    pub fn wraps(f: &AggregateUDF) -> bool {
        let inner: &dyn std::any::Any = f.inner().as_ref();
        inner.is::<NumericSpecials>()
    }
}

impl AggregateUDFImpl for NumericSpecials {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> DfResult<FieldRef> {
        self.inner.return_field(arg_fields)
    }

    fn schema_name(
        &self,
        params: &datafusion::logical_expr::expr::AggregateFunctionParams,
    ) -> DfResult<String> {
        self.inner.inner().schema_name(params)
    }

    fn display_name(
        &self,
        params: &datafusion::logical_expr::expr::AggregateFunctionParams,
    ) -> DfResult<String> {
        self.inner.inner().display_name(params)
    }

    fn window_function_schema_name(
        &self,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> DfResult<String> {
        self.inner.inner().window_function_schema_name(params)
    }

    fn window_function_display_name(
        &self,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> DfResult<String> {
        self.inner.inner().window_function_display_name(params)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        let name = args.name.to_owned();
        let mut fields = self.inner.state_fields(args)?;
        for part in ["nan_count", "pos_inf_count", "neg_inf_count"] {
            fields.push(Arc::new(Field::new(
                format_state_name(&name, part),
                DataType::UInt64,
                true,
            )));
        }
        Ok(fields)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let data_type = args.return_type().clone();
        Ok(Box::new(SpecialsAccumulator {
            inner: self.inner.accumulator(args)?,
            specials: Specials::default(),
            data_type,
        }))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let data_type = args.return_type().clone();
        Ok(Box::new(SpecialsAccumulator {
            inner: self.inner.create_sliding_accumulator(args)?,
            specials: Specials::default(),
            data_type,
        }))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> DfResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SpecialsGroups {
            inner: self.inner.create_groups_accumulator(args)?,
            nan: Vec::new(),
            pos: Vec::new(),
            neg: Vec::new(),
        }))
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        match self.inner.reverse_udf() {
            ReversedUDAF::Reversed(f) => ReversedUDAF::Reversed(NumericSpecials::wrap(f)),
            other => other,
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn default_value(&self, data_type: &DataType) -> DfResult<ScalarValue> {
        self.inner.default_value(data_type)
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }
}

struct SpecialsAccumulator {
    inner: Box<dyn Accumulator>,
    specials: Specials,
    data_type: DataType,
}

impl std::fmt::Debug for SpecialsAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpecialsAccumulator({:?})", self.specials)
    }
}

impl SpecialsAccumulator {
    /// The values without their special ones, which are counted with `sign`.
    fn finite(&mut self, values: &[ArrayRef], sign: i64) -> DfResult<Option<Vec<ArrayRef>>> {
        let d = decimal_values(&values[0])?;
        if !any_special(d) {
            return Ok(None);
        }
        let specials = &mut self.specials;
        let keep = split_specials(d, None, |_, v| specials.add(v, sign));
        let kept = values
            .iter()
            .map(|v| filter(v, &keep))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(kept))
    }
}

impl Accumulator for SpecialsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        match self.finite(values, 1)? {
            Some(kept) => self.inner.update_batch(&kept),
            None => self.inner.update_batch(values),
        }
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        match self.finite(values, -1)? {
            Some(kept) => self.inner.retract_batch(&kept),
            None => self.inner.retract_batch(values),
        }
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        match (self.specials.result(), &self.data_type) {
            (Some(v), DataType::Decimal128(p, s)) => Ok(ScalarValue::Decimal128(Some(v), *p, *s)),
            _ => self.inner.evaluate(),
        }
    }

    fn size(&self) -> usize {
        self.inner.size() + std::mem::size_of::<Specials>()
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let mut state = self.inner.state()?;
        let s = self.specials;
        state.extend([s.nan, s.pos, s.neg].map(|c| ScalarValue::UInt64(Some(c))));
        Ok(state)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let k = states.len().saturating_sub(3);
        let counts = |j: usize| -> u64 {
            states[k + j]
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|a| a.iter().flatten().sum())
                .unwrap_or(0)
        };
        self.specials.nan += counts(0);
        self.specials.pos += counts(1);
        self.specials.neg += counts(2);
        self.inner.merge_batch(&states[..k])
    }
}

struct SpecialsGroups {
    inner: Box<dyn GroupsAccumulator>,
    nan: Vec<u64>,
    pos: Vec<u64>,
    neg: Vec<u64>,
}

impl SpecialsGroups {
    fn grow(&mut self, total: usize) {
        for v in [&mut self.nan, &mut self.pos, &mut self.neg] {
            if v.len() < total {
                v.resize(total, 0);
            }
        }
    }

    fn count(&mut self, group: usize, v: i128) {
        let slot = match v {
            NAN => &mut self.nan[group],
            POS_INF => &mut self.pos[group],
            _ => &mut self.neg[group],
        };
        *slot += 1;
    }
}

impl GroupsAccumulator for SpecialsGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.grow(total_num_groups);
        let d = decimal_values(&values[0])?;
        if !any_special(d) {
            return self
                .inner
                .update_batch(values, group_indices, opt_filter, total_num_groups);
        }
        let mut seen = Vec::new();
        let keep = split_specials(d, opt_filter, |i, v| seen.push((group_indices[i], v)));
        for (group, v) in seen {
            self.count(group, v);
        }
        self.inner
            .update_batch(values, group_indices, Some(&keep), total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let out = self.inner.evaluate(emit_to)?;
        let nan = emit_to.take_needed(&mut self.nan);
        let pos = emit_to.take_needed(&mut self.pos);
        let neg = emit_to.take_needed(&mut self.neg);
        if nan.iter().chain(&pos).chain(&neg).all(|c| *c == 0) {
            return Ok(out);
        }
        let d = decimal_values(&out)?;
        let patched: Decimal128Array = (0..d.len())
            .map(|i| {
                let s = Specials {
                    nan: nan.get(i).copied().unwrap_or(0),
                    pos: pos.get(i).copied().unwrap_or(0),
                    neg: neg.get(i).copied().unwrap_or(0),
                };
                s.result().or_else(|| d.is_valid(i).then(|| d.value(i)))
            })
            .collect();
        Ok(Arc::new(patched.with_data_type(out.data_type().clone())))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let mut state = self.inner.state(emit_to)?;
        for v in [&mut self.nan, &mut self.pos, &mut self.neg] {
            state.push(Arc::new(UInt64Array::from(emit_to.take_needed(v))));
        }
        Ok(state)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.grow(total_num_groups);
        let k = values.len().saturating_sub(3);
        for (j, target) in [&mut self.nan, &mut self.pos, &mut self.neg]
            .into_iter()
            .enumerate()
        {
            if let Some(counts) = values[k + j].as_any().downcast_ref::<UInt64Array>() {
                for (i, &g) in group_indices.iter().enumerate() {
                    if counts.is_valid(i) {
                        target[g] += counts.value(i);
                    }
                }
            }
        }
        self.inner
            .merge_batch(&values[..k], group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        let d = decimal_values(&values[0])?;
        let rows = d.len();
        let mut counts = [vec![0u64; rows], vec![0u64; rows], vec![0u64; rows]];
        let keep = split_specials(d, opt_filter, |i, v| {
            let j = match v {
                NAN => 0,
                POS_INF => 1,
                _ => 2,
            };
            counts[j][i] = 1;
        });
        let filter = if counts.iter().flatten().any(|c| *c > 0) {
            Some(&keep)
        } else {
            opt_filter
        };
        let mut state = self.inner.convert_to_state(values, filter)?;
        for c in counts {
            state.push(Arc::new(UInt64Array::from(c)));
        }
        Ok(state)
    }

    fn size(&self) -> usize {
        self.inner.size() + 8 * (self.nan.capacity() + self.pos.capacity() + self.neg.capacity())
    }
}

// ---------------------------------------------------------------------------------------
// Sliding window frames computed again from their rows

/// An aggregate over a sliding window frame that PostgreSQL computes from the frame's rows
/// each time: when the aggregate cannot retract a row, or when retracting would round
/// (`always`: float sums and averages). Everything else is the wrapped aggregate's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FrameRecompute {
    inner: Arc<AggregateUDF>,
    always: bool,
}

impl FrameRecompute {
    pub fn wrap(inner: Arc<AggregateUDF>, always: bool) -> Arc<AggregateUDF> {
        Arc::new(AggregateUDF::new_from_impl(FrameRecompute {
            inner,
            always,
        }))
    }
}

impl AggregateUDFImpl for FrameRecompute {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> DfResult<FieldRef> {
        self.inner.return_field(arg_fields)
    }

    fn schema_name(
        &self,
        params: &datafusion::logical_expr::expr::AggregateFunctionParams,
    ) -> DfResult<String> {
        self.inner.inner().schema_name(params)
    }

    fn display_name(
        &self,
        params: &datafusion::logical_expr::expr::AggregateFunctionParams,
    ) -> DfResult<String> {
        self.inner.inner().display_name(params)
    }

    fn window_function_schema_name(
        &self,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> DfResult<String> {
        self.inner.inner().window_function_schema_name(params)
    }

    fn window_function_display_name(
        &self,
        params: &datafusion::logical_expr::expr::WindowFunctionParams,
    ) -> DfResult<String> {
        self.inner.inner().window_function_display_name(params)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        self.inner.accumulator(args)
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        if !self.always {
            let acc = self.inner.create_sliding_accumulator(args.clone())?;
            if acc.supports_retract_batch() {
                return Ok(acc);
            }
        }
        Ok(Box::new(Recompute::new(Arc::clone(&self.inner), &args)))
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> DfResult<Box<dyn GroupsAccumulator>> {
        self.inner.create_groups_accumulator(args)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        match self.inner.reverse_udf() {
            ReversedUDAF::Reversed(f) => {
                ReversedUDAF::Reversed(FrameRecompute::wrap(f, self.always))
            }
            other => other,
        }
    }

    fn order_sensitivity(&self) -> datafusion::logical_expr::utils::AggregateOrderSensitivity {
        self.inner.inner().order_sensitivity()
    }

    fn with_beneficial_ordering(
        self: Arc<Self>,
        beneficial_ordering: bool,
    ) -> DfResult<Option<Arc<dyn AggregateUDFImpl>>> {
        let always = self.always;
        let inner = self.inner.as_ref().clone();
        Ok(inner.with_beneficial_ordering(beneficial_ordering)?.map(
            |f| -> Arc<dyn AggregateUDFImpl> {
                Arc::new(FrameRecompute {
                    inner: Arc::new(f),
                    always,
                })
            },
        ))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn default_value(&self, data_type: &DataType) -> DfResult<ScalarValue> {
        self.inner.default_value(data_type)
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.inner.inner().supports_null_handling_clause()
    }

    fn is_descending(&self) -> Option<bool> {
        self.inner.is_descending()
    }
}

/// The rows of a sliding frame, aggregated from scratch at each evaluation. Frames slide
/// forward only, so a retraction always removes the oldest rows.
struct Recompute {
    udaf: Arc<AggregateUDF>,
    return_field: FieldRef,
    schema: Schema,
    ignore_nulls: bool,
    order_bys: Vec<PhysicalSortExpr>,
    is_reversed: bool,
    name: String,
    is_distinct: bool,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    expr_fields: Vec<FieldRef>,
    /// The frame's rows, in batches; the first `skip` rows of the first batch have left it.
    rows: VecDeque<Vec<ArrayRef>>,
    skip: usize,
}

impl std::fmt::Debug for Recompute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recompute({})", self.name)
    }
}

impl Recompute {
    fn new(udaf: Arc<AggregateUDF>, args: &AccumulatorArgs) -> Recompute {
        Recompute {
            udaf,
            return_field: Arc::clone(&args.return_field),
            schema: args.schema.clone(),
            ignore_nulls: args.ignore_nulls,
            order_bys: args.order_bys.to_vec(),
            is_reversed: args.is_reversed,
            name: args.name.to_owned(),
            is_distinct: args.is_distinct,
            exprs: args.exprs.to_vec(),
            expr_fields: args.expr_fields.to_vec(),
            rows: VecDeque::new(),
            skip: 0,
        }
    }

    fn fresh(&self) -> DfResult<Box<dyn Accumulator>> {
        self.udaf.accumulator(AccumulatorArgs {
            return_field: Arc::clone(&self.return_field),
            schema: &self.schema,
            ignore_nulls: self.ignore_nulls,
            order_bys: &self.order_bys,
            is_reversed: self.is_reversed,
            name: &self.name,
            is_distinct: self.is_distinct,
            exprs: &self.exprs,
            expr_fields: &self.expr_fields,
        })
    }
}

impl Accumulator for Recompute {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        if values.first().is_some_and(|v| !v.is_empty()) {
            self.rows.push_back(values.to_vec());
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let mut n = values.first().map_or(0, |v| v.len());
        while n > 0 {
            let Some(first) = self.rows.front() else {
                break;
            };
            let left = first.first().map_or(0, |v| v.len()) - self.skip;
            if n >= left {
                self.rows.pop_front();
                self.skip = 0;
                n -= left;
            } else {
                self.skip += n;
                n = 0;
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let mut acc = self.fresh()?;
        for (k, batch) in self.rows.iter().enumerate() {
            if k == 0 && self.skip > 0 {
                let sliced: Vec<ArrayRef> = batch
                    .iter()
                    .map(|v| v.slice(self.skip, v.len() - self.skip))
                    .collect();
                acc.update_batch(&sliced)?;
            } else {
                acc.update_batch(batch)?;
            }
        }
        acc.evaluate()
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .rows
                .iter()
                .flatten()
                .map(|a| a.get_array_memory_size())
                .sum::<usize>()
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let mut acc = self.fresh()?;
        for batch in &self.rows {
            acc.update_batch(batch)?;
        }
        acc.state()
    }

    fn merge_batch(&mut self, _states: &[ArrayRef]) -> DfResult<()> {
        Err(SqlError::Internal("a window frame's aggregate is not merged".into()).into_datafusion())
    }
}

/// A window aggregate over a sliding frame that PostgreSQL computes frame by frame: wrapped
/// in [`FrameRecompute`]. `pg_rules`: float sums and averages are always recomputed.
fn window_aggregate(
    e: Expr,
    schema: &datafusion::common::DFSchema,
    pg_rules: bool,
) -> DfResult<datafusion::common::tree_node::Transformed<Expr>> {
    use datafusion::common::tree_node::Transformed;
    let Expr::WindowFunction(w) = &e else {
        return Ok(Transformed::no(e));
    };
    let WindowFunctionDefinition::AggregateUDF(f) = &w.fun else {
        return Ok(Transformed::no(e));
    };
    let recomputes = {
        let inner: &dyn std::any::Any = f.inner().as_ref();
        inner.is::<FrameRecompute>()
    };
    if w.params.window_frame.is_ever_expanding() || recomputes {
        return Ok(Transformed::no(e));
    }
    let float = |a: &Expr| {
        matches!(
            a.get_type(schema),
            Ok(DataType::Float32 | DataType::Float64)
        )
    };
    let always =
        pg_rules && matches!(f.name(), "sum" | "avg") && w.params.args.first().is_some_and(float);
    let wrapped = FrameRecompute::wrap(Arc::clone(f), always);
    let Expr::WindowFunction(mut w) = e else {
        return Ok(Transformed::no(e));
    };
    let WindowFunction { fun, .. } = w.as_mut();
    *fun = WindowFunctionDefinition::AggregateUDF(wrapped);
    Ok(Transformed::yes(Expr::WindowFunction(w)))
}

/// The analyzer rule that gives window aggregates over sliding frames PostgreSQL's
/// evaluation (see [`FrameRecompute`]); `pg_rules` in PostgreSQL sessions.
#[derive(Debug)]
pub struct SlidingFrames {
    pub pg_rules: bool,
}

impl datafusion::optimizer::AnalyzerRule for SlidingFrames {
    fn analyze(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<datafusion::logical_expr::LogicalPlan> {
        crate::analyzer::rewrite_expressions(plan, |e, schema| {
            window_aggregate(e, schema, self.pg_rules)
        })
    }

    fn name(&self) -> &str {
        "basalt_sliding_frames"
    }
}

// ---------------------------------------------------------------------------------------
// Transition functions PostgreSQL exposes

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Transition {
    Float8Accum,
    Float8RegrAccum,
    Float8Combine,
    Float8RegrCombine,
    BoolAnd,
    BoolOr,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TransitionFn {
    kind: Transition,
    signature: Signature,
}

impl Transition {
    fn name(self) -> &'static str {
        match self {
            Transition::Float8Accum => "float8_accum",
            Transition::Float8RegrAccum => "float8_regr_accum",
            Transition::Float8Combine => "float8_combine",
            Transition::Float8RegrCombine => "float8_regr_combine",
            Transition::BoolAnd => "booland_statefunc",
            Transition::BoolOr => "boolor_statefunc",
        }
    }
}

pub fn transition_udfs() -> Vec<ScalarUDF> {
    [
        (Transition::Float8Accum, 2),
        (Transition::Float8RegrAccum, 3),
        (Transition::Float8Combine, 2),
        (Transition::Float8RegrCombine, 2),
        (Transition::BoolAnd, 2),
        (Transition::BoolOr, 2),
    ]
    .into_iter()
    .map(|(kind, n)| {
        let signature = match kind {
            Transition::BoolAnd | Transition::BoolOr => Signature::exact(
                vec![DataType::Boolean, DataType::Boolean],
                Volatility::Immutable,
            ),
            _ => Signature::any(n, Volatility::Immutable),
        };
        ScalarUDF::from(TransitionFn { kind, signature })
    })
    .collect()
}

/// The float8[] state of one row, checked to have `len` elements and no NULL, as
/// PostgreSQL's `check_float8_array`; `None` for a NULL array.
fn float8_state(
    list: &ArrayRef,
    row: usize,
    len: usize,
    caller: &str,
) -> DfResult<Option<Vec<f64>>> {
    let bad = || {
        SqlError::Internal(format!("{caller}: expected {len}-element float8 array"))
            .into_datafusion()
    };
    if list.is_null(row) {
        return Ok(None);
    }
    let values = match list.data_type() {
        DataType::List(_) => list.as_list::<i32>().value(row),
        DataType::LargeList(_) => list.as_list::<i64>().value(row),
        DataType::FixedSizeList(..) => list.as_fixed_size_list().value(row),
        _ => return Err(bad()),
    };
    if values.len() != len || values.null_count() > 0 {
        return Err(bad());
    }
    let values = floats(&values).map_err(|_| bad())?;
    Ok(Some(values.as_primitive::<Float64Type>().values().to_vec()))
}

impl ScalarUDFImpl for TransitionFn {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            Transition::BoolAnd | Transition::BoolOr => DataType::Boolean,
            _ => DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rows = arrays.first().map_or(0, |a| a.len());
        let out: ArrayRef = match self.kind {
            Transition::BoolAnd | Transition::BoolOr => {
                let (a, b) = (arrays[0].as_boolean(), arrays[1].as_boolean());
                let and = self.kind == Transition::BoolAnd;
                Arc::new(
                    (0..rows)
                        .map(|i| {
                            (a.is_valid(i) && b.is_valid(i)).then(|| {
                                if and {
                                    a.value(i) && b.value(i)
                                } else {
                                    a.value(i) || b.value(i)
                                }
                            })
                        })
                        .collect::<BooleanArray>(),
                )
            }
            kind => {
                let name = kind.name();
                let numbers: Vec<ArrayRef> = arrays[1..]
                    .iter()
                    .map(|a| match a.data_type() {
                        DataType::List(_)
                        | DataType::LargeList(_)
                        | DataType::FixedSizeList(..) => Ok(Arc::clone(a)),
                        _ => floats(a),
                    })
                    .collect::<DfResult<_>>()?;
                let number = |k: usize, i: usize| -> Option<f64> {
                    let a = numbers[k].as_any().downcast_ref::<Float64Array>()?;
                    a.is_valid(i).then(|| a.value(i))
                };
                let mut builder = ListBuilder::new(Float64Builder::new());
                for i in 0..rows {
                    let state = match kind {
                        Transition::Float8Accum => {
                            let (Some(s), Some(x)) =
                                (float8_state(&arrays[0], i, 3, name)?, number(0, i))
                            else {
                                builder.append_null();
                                continue;
                            };
                            let mut yc = YoungsCramer {
                                n: s[0],
                                sx: s[1],
                                sxx: s[2],
                            };
                            yc.accum(x)?;
                            vec![yc.n, yc.sx, yc.sxx]
                        }
                        Transition::Float8Combine => {
                            let (Some(a), Some(b)) = (
                                float8_state(&arrays[0], i, 3, name)?,
                                float8_state(&numbers[0], i, 3, name)?,
                            ) else {
                                builder.append_null();
                                continue;
                            };
                            let a = YoungsCramer {
                                n: a[0],
                                sx: a[1],
                                sxx: a[2],
                            };
                            let c = a.combine(YoungsCramer {
                                n: b[0],
                                sx: b[1],
                                sxx: b[2],
                            })?;
                            vec![c.n, c.sx, c.sxx]
                        }
                        Transition::Float8RegrAccum => {
                            let (Some(s), Some(y), Some(x)) = (
                                float8_state(&arrays[0], i, 6, name)?,
                                number(0, i),
                                number(1, i),
                            ) else {
                                builder.append_null();
                                continue;
                            };
                            let mut r = regr(&s);
                            r.accum(y, x)?;
                            regr_values(r)
                        }
                        _ => {
                            let (Some(a), Some(b)) = (
                                float8_state(&arrays[0], i, 6, name)?,
                                float8_state(&numbers[0], i, 6, name)?,
                            ) else {
                                builder.append_null();
                                continue;
                            };
                            regr_values(regr(&a).combine(regr(&b))?)
                        }
                    };
                    builder.values().append_slice(&state);
                    builder.append(true);
                }
                Arc::new(builder.finish())
            }
        };
        crate::functions::columnar_result(out, scalar)
    }
}

fn regr(s: &[f64]) -> RegrState {
    RegrState {
        n: s[0],
        sx: s[1],
        sxx: s[2],
        sy: s[3],
        syy: s[4],
        sxy: s[5],
    }
}

fn regr_values(r: RegrState) -> Vec<f64> {
    vec![r.n, r.sx, r.sxx, r.sy, r.syy, r.sxy]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn youngs_cramer_matches_postgresql() {
        let mut s = YoungsCramer {
            n: 4.0,
            sx: 140.0,
            sxx: 2900.0,
        };
        s.accum(100.0).unwrap();
        assert_eq!((s.n, s.sx, s.sxx), (5.0, 240.0, 6280.0));
        let a = YoungsCramer {
            n: 3.0,
            sx: 60.0,
            sxx: 200.0,
        };
        let b = YoungsCramer {
            n: 2.0,
            sx: 180.0,
            sxx: 200.0,
        };
        assert_eq!(a.combine(b).unwrap().sxx, 6280.0);
        assert_eq!(a.combine(YoungsCramer::default()).unwrap(), a);
        // A single infinite or NaN input: population variance NaN.
        let mut inf = YoungsCramer::default();
        inf.accum(f64::INFINITY).unwrap();
        assert!(Spread::VarPop.finish(inf).unwrap().is_nan());
        assert_eq!(Spread::VarSamp.finish(inf), None);
        // Large offsets keep their precision.
        let mut big = YoungsCramer::default();
        for x in [100000003.0, 100000004.0, 100000006.0, 100000007.0] {
            big.accum(x).unwrap();
        }
        assert_eq!(Spread::VarPop.finish(big), Some(2.5));
        // Finite values whose sum overflows.
        let mut over = YoungsCramer::default();
        over.accum(f64::MAX).unwrap();
        assert!(over.accum(f64::MAX).is_err());
    }

    #[test]
    fn regression_state_matches_postgresql() {
        let mut r = regr(&[4.0, 140.0, 2900.0, 1290.0, 83075.0, 15050.0]);
        r.accum(200.0, 100.0).unwrap();
        assert_eq!(
            regr_values(r),
            vec![5.0, 240.0, 6280.0, 1490.0, 95080.0, 8680.0]
        );
        let a = regr(&[3.0, 60.0, 200.0, 750.0, 20000.0, 2000.0]);
        let b = regr(&[2.0, 180.0, 200.0, 740.0, 57800.0, -3400.0]);
        assert_eq!(
            regr_values(a.combine(b).unwrap()),
            vec![5.0, 240.0, 6280.0, 1490.0, 95080.0, 8680.0]
        );
    }

    #[test]
    fn specials_give_postgresql_results() {
        let mut s = Specials::default();
        assert_eq!(s.result(), None);
        s.add(POS_INF, 1);
        assert_eq!(s.result(), Some(POS_INF));
        s.add(NEG_INF, 1);
        assert_eq!(s.result(), Some(NAN));
        s.add(NEG_INF, -1);
        s.add(POS_INF, -1);
        assert_eq!(s.result(), None);
    }
}
