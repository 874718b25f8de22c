/**
 * `openImageFolder(root, options)`: an ImageFolder data set on disk — the folder tree listed by
 * io/ and turned into classes, samples and a train/val split by data/ (see data/image_folder.ts for
 * the rules).
 */
import { imageFolderDataset, type ImageFolderDataset, type ImageFolderOptions } from '../data/image_folder.js';
import { joinPath, readFolderTree } from '../io/image_folder_files.js';

export type { ImageFolderDataset, ImageFolderOptions };

export function openImageFolder(root: string, options: Omit<ImageFolderOptions, 'join'> = {}): ImageFolderDataset {
  return imageFolderDataset(readFolderTree(root), { ...options, join: joinPath });
}
