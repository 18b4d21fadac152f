package dev.gatun.ops.cpu;

/**
 * Float64 reference implementations of the {@link dev.gatun.ops.Backend} forwards, written as plain loops straight
 * from the equations in its documentation and independent of the kernels under test. Row-major arrays throughout.
 */
final class Reference {
    private Reference() {
    }

    static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static double[] gelu(double[] x) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = gelu(x[i]);
        }
        return out;
    }

    /** {@code x[n, c] + bias[c]}. */
    static double[] addBias(double[] x, double[] bias) {
        double[] out = x.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] += bias[i % bias.length];
        }
        return out;
    }

    /** Returns {out, mean, rstd} of LayerNorm over rows of {@code c}. */
    static double[][] layerNorm(double[] x, double[] w, double[] b, double eps, int c) {
        int rows = x.length / c;
        double[] out = new double[x.length];
        double[] mean = new double[rows];
        double[] rstd = new double[rows];
        for (int r = 0; r < rows; r++) {
            double m = 0;
            for (int j = 0; j < c; j++) {
                m += x[r * c + j];
            }
            m /= c;
            double v = 0;
            for (int j = 0; j < c; j++) {
                v += (x[r * c + j] - m) * (x[r * c + j] - m);
            }
            v /= c;
            double s = 1 / Math.sqrt(v + eps);
            for (int j = 0; j < c; j++) {
                out[r * c + j] = (x[r * c + j] - m) * s * w[j] + b[j];
            }
            mean[r] = m;
            rstd[r] = s;
        }
        return new double[][]{out, mean, rstd};
    }

    static double[] softmax(double[] x, int columns) {
        double[] out = new double[x.length];
        for (int r = 0; r < x.length / columns; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < columns; j++) {
                max = Math.max(max, x[r * columns + j]);
            }
            double sum = 0;
            for (int j = 0; j < columns; j++) {
                sum += Math.exp(x[r * columns + j] - max);
            }
            for (int j = 0; j < columns; j++) {
                out[r * columns + j] = Math.exp(x[r * columns + j] - max) / sum;
            }
        }
        return out;
    }

    /** Returns {out [B, T, C], att [B, NH, T, T]} of causal self-attention from {@code qkv [B, T, 3C]}. */
    static double[][] attention(double[] qkv, int batch, int t, int c, int nh) {
        int hs = c / nh;
        double[] out = new double[batch * t * c];
        double[] att = new double[batch * nh * t * t];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < nh; h++) {
                for (int i = 0; i < t; i++) {
                    double[] pre = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double s = 0;
                        for (int d = 0; d < hs; d++) {
                            s += qkv[(b * t + i) * 3 * c + h * hs + d] * qkv[(b * t + j) * 3 * c + c + h * hs + d];
                        }
                        pre[j] = s / Math.sqrt(hs);
                        max = Math.max(max, pre[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) {
                        sum += Math.exp(pre[j] - max);
                    }
                    int row = ((b * nh + h) * t + i) * t;
                    for (int j = 0; j <= i; j++) {
                        att[row + j] = Math.exp(pre[j] - max) / sum;
                    }
                    for (int d = 0; d < hs; d++) {
                        double y = 0;
                        for (int j = 0; j <= i; j++) {
                            y += att[row + j] * qkv[(b * t + j) * 3 * c + 2 * c + h * hs + d];
                        }
                        out[(b * t + i) * c + h * hs + d] = y;
                    }
                }
            }
        }
        return new double[][]{out, att};
    }

    /** {@code wte[tokens[b, t]] + wpe[t]} into {@code [B, T, C]}. */
    static double[] embedding(int[] tokens, double[] wte, double[] wpe, int t, int c) {
        double[] out = new double[tokens.length * c];
        for (int r = 0; r < tokens.length; r++) {
            for (int j = 0; j < c; j++) {
                out[r * c + j] = wte[tokens[r] * c + j] + wpe[(r % t) * c + j];
            }
        }
        return out;
    }

    /** {@code logsumexp(logits[n]) − logits[n, targets[n]]} per row. */
    static double[] crossEntropy(double[] logits, int[] targets, int v) {
        double[] losses = new double[targets.length];
        for (int n = 0; n < targets.length; n++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) {
                max = Math.max(max, logits[n * v + j]);
            }
            double sum = 0;
            for (int j = 0; j < v; j++) {
                sum += Math.exp(logits[n * v + j] - max);
            }
            losses[n] = max + Math.log(sum) - logits[n * v + targets[n]];
        }
        return losses;
    }

    /**
     * {@code alpha·op(A)·op(B) + beta·C} for {@code batch} stored matrices; {@code c} may be null when
     * {@code beta = 0}.
     */
    static double[] gemm(double[] a, boolean transA, double[] b, boolean transB, double[] c, int batch, int m, int n,
                         int k, double alpha, double beta) {
        double[] out = new double[batch * m * n];
        for (int e = 0; e < batch; e++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        double av = transA ? a[e * m * k + p * m + i] : a[e * m * k + i * k + p];
                        double bv = transB ? b[e * k * n + j * k + p] : b[e * k * n + p * n + j];
                        s += av * bv;
                    }
                    int o = e * m * n + i * n + j;
                    out[o] = alpha * s + (beta == 0 ? 0 : beta * c[o]);
                }
            }
        }
        return out;
    }
}
