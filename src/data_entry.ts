/**
 * visionmix/data — data for training from code (Node): image folders and their loader (decode +
 * augment in worker threads, seeded per sample, resumable), timm's train transform
 * (RandomResizedCrop, flip, RandAugment, colour jitter, random erasing), the eval transform per
 * pretrained config, samplers, and Fashion-MNIST (the bundled subset or Debian's full set).
 *
 *   const ds = openImageFolder('photos/');             // classes, train/val samples
 *   const loader = new ImageLoader({ samples: ds.train.samples, batchSize: 32, seed: 0,
 *     transform: { kind: 'train', config: { ...BASIC_AUGMENT, autoAugment: 'rand-m9-mstd0.5-inc1',
 *       inputSize: [3, 224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD } } });
 *   const { x, labels } = await loader.next();        // x: Tensor [32, 3, 224, 224]
 *   await loader.close();
 */
export { openImageFolder } from './tasks/image_folder.js';
export type { ImageFolderDataset, ImageFolderOptions } from './tasks/image_folder.js';
export type { ImageSample, ImageFolderSplit } from './data/image_folder.js';
export { IMAGE_EXTENSIONS } from './data/image_folder.js';
export { ImageLoader } from './tasks/image_loader.js';
export type { ImageLoaderOptions, LoaderBatch, LoaderTransform } from './tasks/image_loader.js';
export { openFolderData, folderEvalTransform, BASIC_AUGMENT, IMAGENET_MEAN, IMAGENET_STD } from './tasks/folder_data.js';
export type { FolderData, FolderDataConfig } from './tasks/folder_data.js';
export { createTrainTransform } from './data/train_transform.js';
export type { TrainTransform, TrainTransformConfig, TrainTransformTrace } from './data/train_transform.js';
export { RandAugment, parseRandAugment, RAND_TRANSFORMS, RAND_INCREASING_TRANSFORMS } from './data/rand_augment.js';
export type { RandAugmentConfig, RandAugmentHparams, RandAugmentOp } from './data/rand_augment.js';
export { randomResizedCrop, randomHorizontalFlip, colorJitter, randomErasing } from './data/augment.js';
export type { RandomResizedCropOptions, ColorJitterOptions, RandomErasingOptions } from './data/augment.js';
export { evalTransform, evalResize } from './data/image_transform.js';
export type { EvalTransformConfig } from './data/image_transform.js';
export { resizeImage } from './data/resample.js';
export type { PlanarImage, ResampleFilter } from './data/resample.js';
export { EpochSampler } from './data/sampler.js';
export type { SamplerState } from './data/sampler.js';
export { MultiScaleSampler } from './data/multiscale_sampler.js';
export { loadFashionMnist, BUNDLED_FASHION_MNIST_DIR, DEFAULT_FASHION_MNIST_DIR } from './io/fashion_mnist_files.js';
export { FASHION_MNIST_CLASSES } from './data/fashion_mnist.js';
export type { FashionMnist, FashionMnistSplit } from './data/fashion_mnist.js';
export { loadImage } from './io/load_image.js';
export type { LoadedImage, LoadImageOptions, ImageSource } from './io/load_image.js';
export { createTransform } from './tasks/transform.js';
