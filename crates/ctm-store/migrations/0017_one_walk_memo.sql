-- Version 17: one memo of folders instead of two. The stat list (version 10) now keeps
-- every folder the last walk listed, each with its own stat and its entries (links
-- too), and says in its header whether it vouches for the whole walk; the walk reads
-- its folder listings from it. So version 7's folder listings go. Both are caches of
-- what is on disk: the list is emptied (its encoding changed), and the next run that
-- writes records it again.

DROP TABLE IF EXISTS walk_folders;
DELETE FROM walk_stat_list;
