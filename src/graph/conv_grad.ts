/**
 * VJP rules for convolution, transposed convolution, pooling, gather and resize.
 * (Placeholder: filled in by the autodiff work; the forward ops live in ops.ts.)
 */
export {};
