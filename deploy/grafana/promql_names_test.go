package grafana

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.99, sum by (le, type) (rate(a_seconds_bucket[5m])))`, []string{"a_seconds_bucket"}},
		{`sum(rate(x_total{job="a", rule=~"end-of-tier|b"}[$__rate_interval])) by (job) / on(job) group_left(instance) y`, []string{"x_total", "y"}},
		{`time() - max by (job, loop) (z_timestamp_seconds)`, []string{"z_timestamp_seconds"}},
		{`{__name__="w", job="x"}`, []string{"w"}},
		{`a > bool 1 and b unless c offset 5m`, []string{"a", "b", "c"}},
		{`topk(10, m) or vector(0)`, []string{"m"}},
		{`1e-3 * n + 0x1F - .5`, []string{"n"}},
		{`count_values("value", q{l="{not a brace"})`, []string{"q"}},
		{`max(${metric_var}) + rate(k[${__interval}:1m])`, []string{"k"}},
		{`sum without (instance) (trellis:recorded:rate5m)`, []string{"trellis:recorded:rate5m"}},
		{`x group_left y`, []string{"x", "y"}},
	} {
		got, err := metricNames(tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.expr, diff)
		}
	}
	for _, bad := range []string{`rate(x{job="a}[5m])`, `sum(rate(x[5m])`, `{__name__=~"trellis_.*"}`} {
		if _, err := metricNames(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
