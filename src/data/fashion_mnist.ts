/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, Zalando Research, MIT licence): 70 000 grayscale
 * 28×28 images of clothing in 10 classes, 60 000 for training and 10 000 for testing, shipped as
 * four IDX files. This module turns parsed IDX arrays into checked datasets; it is pure, so it runs
 * in browsers too. Reading the files from disk is `io/fashion_mnist_files.ts`.
 */
import { ConfigError, DataError } from '../errors.js';
import type { IdxArray } from './idx.js';
import type { ImageDataset } from './transforms.js';

/** Class names, indexed by label. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/**
 * Mean and standard deviation of the training pixels after scaling to [0, 1]: the usual
 * normalisation constants for Fashion-MNIST.
 */
export const FASHION_MNIST_MEAN = 0.286;
export const FASHION_MNIST_STD = 0.353;

export const FASHION_MNIST_SIZE = 28;

/** The four file names of the distribution (each may also carry a `.gz` suffix). */
export const FASHION_MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** One split: `count` images of 1×28×28 bytes, stored back to back, and their labels 0..9. */
export interface FashionMnistSplit extends ImageDataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: 28;
  width: 28;
  channels: 1;
  classes: typeof FASHION_MNIST_CLASSES;
}

export interface FashionMnist {
  train: FashionMnistSplit;
  test: FashionMnistSplit;
}

/**
 * Build one split from its parsed image and label files, checking that they belong together:
 * images are uint8 [N, 28, 28], labels uint8 [N] with the same N, every label < 10.
 * Any mismatch → `DataError` naming the file at fault.
 */
export function fashionMnistSplit(images: IdxArray, labels: IdxArray): FashionMnistSplit {
  const S = FASHION_MNIST_SIZE;
  if (images.dtype !== 'uint8' || images.dims.length !== 3 || images.dims[1] !== S || images.dims[2] !== S)
    throw new DataError(
      `${images.file}: expected Fashion-MNIST images as uint8 [N, ${S}, ${S}], got ${images.dtype} [${images.dims.join(', ')}]`,
    );
  if (labels.dtype !== 'uint8' || labels.dims.length !== 1)
    throw new DataError(
      `${labels.file}: expected Fashion-MNIST labels as uint8 [N], got ${labels.dtype} [${labels.dims.join(', ')}]`,
    );
  const count = images.dims[0]!;
  if (labels.dims[0] !== count)
    throw new DataError(
      `${labels.file}: has ${labels.dims[0]} labels but ${images.file} has ${count} images; the files do not belong together`,
    );
  const labelData = labels.data as Uint8Array;
  const numClasses = FASHION_MNIST_CLASSES.length;
  for (let i = 0; i < count; i++) {
    if (labelData[i]! >= numClasses)
      throw new DataError(`${labels.file}: label ${labelData[i]} at index ${i} is not a class (expected 0..${numClasses - 1})`);
  }
  return {
    images: images.data as Uint8Array,
    labels: labelData,
    count,
    height: S,
    width: S,
    channels: 1,
    classes: FASHION_MNIST_CLASSES,
    mean: [FASHION_MNIST_MEAN],
    std: [FASHION_MNIST_STD],
  };
}

/** Assemble both splits from the four parsed files (see `FASHION_MNIST_FILES`). */
export function assembleFashionMnist(files: {
  trainImages: IdxArray;
  trainLabels: IdxArray;
  testImages: IdxArray;
  testLabels: IdxArray;
}): FashionMnist {
  return {
    train: fashionMnistSplit(files.trainImages, files.trainLabels),
    test: fashionMnistSplit(files.testImages, files.testLabels),
  };
}

/** The number of images of each class (index = label). */
export function classCounts(split: { labels: Uint8Array; count: number; classes: readonly string[] }): number[] {
  const counts = new Array<number>(split.classes.length).fill(0);
  for (let i = 0; i < split.count; i++) counts[split.labels[i]!]!++;
  return counts;
}

/**
 * The indices of the first `perClass` images of each class, in their original (ascending) order.
 * This is the selection rule of the bundled subset: deterministic and class-balanced.
 * Throws `DataError` if some class has fewer than `perClass` images.
 */
export function firstIndicesPerClass(split: FashionMnistSplit, perClass: number): number[] {
  const taken = new Array<number>(split.classes.length).fill(0);
  const picked: number[] = [];
  for (let i = 0; i < split.count; i++) {
    const c = split.labels[i]!;
    if (taken[c]! < perClass) {
      taken[c]!++;
      picked.push(i);
    }
  }
  const short = taken.findIndex((t) => t < perClass);
  if (short >= 0)
    throw new DataError(`Fashion-MNIST: class ${short} (${split.classes[short]}) has only ${taken[short]} images, ${perClass} requested`);
  return picked;
}

/** A new split holding copies of the images and labels at `indices`, in that order. */
export function selectFashionMnist(split: FashionMnistSplit, indices: readonly number[]): FashionMnistSplit {
  const px = split.height * split.width * split.channels;
  const images = new Uint8Array(indices.length * px);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, i) => {
    if (!Number.isInteger(src) || src < 0 || src >= split.count)
      throw new ConfigError(`selectFashionMnist: index ${src} is outside the split (0..${split.count - 1})`);
    images.set(split.images.subarray(src * px, (src + 1) * px), i * px);
    labels[i] = split.labels[src]!;
  });
  return { ...split, images, labels, count: indices.length };
}
