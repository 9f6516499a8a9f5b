//! The one translation table: every string a person sees or hears (text,
//! aria-label, title) comes from here, in English and Japanese. The language
//! follows the browser's preferences until the person picks one, which is
//! remembered in this browser.

const LANG_KEY = 'qicoo.lang';

/** The languages Qicoo speaks, in the order the switch shows them. */
export const LANGUAGES = ['en', 'ja'];

const en = {
  'app.name': 'Qicoo',
  'app.tagline': 'Live Q&A for meetups: ask, like, and see what the room wants answered.',
  'lang.label': 'Language',
  'lang.en': 'English',
  'lang.ja': '日本語',
  'landing.join.heading': 'Join a meetup',
  'landing.join.code': 'Join code',
  'landing.join.submit': 'Join',
  'landing.join.invalid': 'Type the code shown on the screen (letters and digits).',
  'landing.create.heading': 'Create a meetup',
  'landing.create.title': 'Title',
  'landing.create.moderated': 'Review questions before they are shown',
  'landing.create.submit': 'Create meetup',
  'landing.recent': 'Meetups you organize in this browser',
  'notfound.heading': 'No such meetup',
  'notfound.body': 'There is no meetup with the code {code}. Check the code on the screen and try again.',
  'notfound.page': 'There is nothing at this address.',
  'notfound.home': 'Go to the start page',
  'conn.connecting': 'Connecting…',
  'conn.live': 'Live',
  'conn.offline': 'Offline: reconnecting…',
  'conn.label': 'Connection',
  'attendee.ask.heading': 'Ask a question',
  'attendee.ask.text': 'Your question',
  'attendee.ask.name': 'Your name (optional)',
  'attendee.ask.submit': 'Send question',
  'attendee.ask.counter': '{n} / {max}',
  'attendee.ask.counter.label': '{n} of {max} characters',
  'attendee.ask.tooLong': 'At most {max} characters.',
  'attendee.closed': 'Q&A is closed for now: you can still read and like questions.',
  'attendee.archived': 'This meetup is archived: questions are read-only.',
  'attendee.moderated': 'The organizer reviews questions before they are shown.',
  'attendee.sort.label': 'Sort questions',
  'attendee.sort.top': 'Top',
  'attendee.sort.recent': 'Recent',
  'attendee.questions.heading': 'Questions',
  'attendee.answered.heading': 'Answered',
  'attendee.empty': 'No questions yet. Be the first to ask!',
  'attendee.screenLink': 'Speaker screen',
  'attendee.organizeLink': 'Organize',
  'question.like': 'Like',
  'question.unlike': 'Unlike',
  'question.like.label': 'Like this question ({n} likes)',
  'question.unlike.label': 'Remove your like ({n} likes)',
  'question.likes': '{n} likes',
  'question.anonymous': 'Anonymous',
  'question.highlighted': 'Being answered now',
  'question.answered': 'Answered',
  'question.mine': 'Your question',
  'question.pendingReview': 'Awaiting review',
  'question.rejected': 'Not accepted by the organizer',
  'question.sending': 'Waiting to send…',
  'question.failed': 'Could not be sent: {reason}',
  'question.edit': 'Edit',
  'question.edit.label': 'Edit your question',
  'question.save': 'Save',
  'question.cancel': 'Cancel',
  'question.withdraw': 'Withdraw',
  'question.withdraw.confirm': 'Withdraw this question?',
  'question.withdraw.yes': 'Yes, withdraw',
  'question.postedAt': 'Asked at {time}',
  'outbox.pending': '{n} waiting to send',
  'error.generic': 'Something went wrong. Please try again.',
  'error.dismiss': 'Dismiss',
  'error.offline': 'The server cannot be reached. Check the connection and try again.',
  'error.conflict': 'Not possible right now: Q&A may be closed, the meetup archived, or the question already changed.',
  'error.forbidden': 'You are not allowed to do this.',
  'error.notFound': 'It is not there any more.',
  'error.invalid': 'Please check what you typed: {detail}',
  'error.busy': 'The server is busy. Please try again in a moment.',
  'screen.join': 'Join at',
  'screen.code': 'Code',
  'screen.qr': 'QR code of {url}',
  'screen.highlighted': 'Now answering',
  'screen.top': 'Top questions',
  'screen.empty': 'Scan the code and ask your question.',
  'screen.closed': 'Q&A is closed',
  'organize.heading': 'Organize',
  'organize.keyOnce.heading': 'Keep this organizer key',
  'organize.keyOnce.body': 'This key is shown only now. It is kept in this browser; store it somewhere safe to organize from another device.',
  'organize.keyOnce.label': 'Organizer key',
  'organize.keyOnce.copy': 'Copy key',
  'organize.keyOnce.copied': 'Copied',
  'organize.keyOnce.done': 'I have kept it',
  'organize.keyOnce.device': 'Link for another device (the key stays in the part after #, which is never sent to a server)',
  'organize.needKey.heading': 'Organizer key needed',
  'organize.needKey.body': 'Paste the organizer key you got when the meetup was created.',
  'organize.needKey.label': 'Organizer key',
  'organize.needKey.submit': 'Use this key',
  'organize.needKey.wrong': 'This key does not organize this meetup.',
  'organize.forget': 'Forget the key in this browser',
  'organize.settings.heading': 'Settings',
  'organize.settings.title': 'Title',
  'organize.settings.save': 'Save title',
  'organize.settings.qaOpen': 'Q&A open',
  'organize.settings.moderated': 'Moderation (review questions first)',
  'organize.settings.archive': 'Archive meetup…',
  'organize.settings.archive.confirm': 'Archiving is final: nobody can post, like or moderate afterwards. Archive this meetup?',
  'organize.settings.archive.yes': 'Yes, archive',
  'organize.settings.archived': 'This meetup is archived and read-only.',
  'organize.links': 'Open',
  'organize.queue.heading': 'Moderation queue',
  'organize.queue.empty': 'No questions are waiting for review.',
  'organize.queue.live': 'Queue is live',
  'organize.queue.polling': 'Queue refreshes every few seconds',
  'organize.questions.heading': 'Published questions',
  'organize.questions.empty': 'No published questions yet.',
  'organize.rejected.heading': 'Rejected',
  'organize.approve': 'Approve',
  'organize.reject': 'Reject',
  'organize.answer': 'Mark answered',
  'organize.reopen': 'Reopen',
  'organize.highlight': 'Highlight',
  'organize.unhighlight': 'Unhighlight',
  'organize.remove': 'Remove…',
  'organize.remove.reason': 'Reason for removing (optional)',
  'organize.remove.yes': 'Remove',
  'organize.action.label': '{action}: {text}',
  'organize.history.show': 'History',
  'organize.history.hide': 'Hide history',
  'organize.history.label': 'History of: {text}',
  'organize.history.loading': 'Loading the history…',
  'organize.history.failed': 'The history could not be loaded. Try again.',
  'organize.history.more': 'Only the first 1,000 events are shown here; the export holds them all.',
  'organize.history.organizer': 'Organizer',
  'organize.history.system': 'System',
  'organize.history.participant': 'Participant {name}',
  'organize.history.event.QuestionPosted': 'Posted',
  'organize.history.event.QuestionEdited': 'Edited by its author',
  'organize.history.event.QuestionWithdrawn': 'Withdrawn by its author',
  'organize.history.event.QuestionApproved': 'Approved',
  'organize.history.event.QuestionRejected': 'Rejected',
  'organize.history.event.QuestionAnswered': 'Marked answered',
  'organize.history.event.QuestionReopened': 'Reopened',
  'organize.history.event.QuestionHighlighted': 'Highlighted',
  'organize.history.event.QuestionUnhighlighted': 'Unhighlighted',
  'organize.history.event.QuestionRemoved': 'Removed',
  'organize.history.event.VoteCast': 'Liked',
  'organize.history.event.VoteWithdrawn': 'Like taken back',
  'organize.export.heading': 'Export',
  'organize.export.body': 'Download what happened: every question, like, minute of activity and moderation action, with a summary. Participants appear under pseudonyms.',
  'organize.export.xlsx': 'Excel workbook (.xlsx)',
  'organize.export.zip': 'CSV files (.zip)',
  'organize.export.jsonl': 'JSON Lines (.jsonl)',
  'organize.export.report': 'Report (.html)',
  'organize.export.working': 'Preparing…',
  'organize.export.done': 'Saved {file} (up to event {position}).',
  'organize.shortcuts.heading': 'Keyboard shortcuts',
  'organize.shortcuts.body': 'In the lists: j / k next / previous question, a approve, r reject, d mark answered or reopen, h highlight or unhighlight, x remove.',
  'time.label': '{time}',
};

const ja = {
  'app.name': 'Qicoo',
  'app.tagline': 'ミートアップのためのライブQ&A。質問して、いいねして、会場が知りたいことを見える化。',
  'lang.label': '言語',
  'lang.en': 'English',
  'lang.ja': '日本語',
  'landing.join.heading': 'ミートアップに参加',
  'landing.join.code': '参加コード',
  'landing.join.submit': '参加する',
  'landing.join.invalid': 'スクリーンに表示されたコード(英数字)を入力してください。',
  'landing.create.heading': 'ミートアップを作成',
  'landing.create.title': 'タイトル',
  'landing.create.moderated': '質問を表示する前に確認する',
  'landing.create.submit': 'ミートアップを作成',
  'landing.recent': 'このブラウザで主催しているミートアップ',
  'notfound.heading': 'ミートアップが見つかりません',
  'notfound.body': 'コード {code} のミートアップはありません。スクリーンのコードを確認して、もう一度お試しください。',
  'notfound.page': 'このアドレスには何もありません。',
  'notfound.home': 'トップページへ',
  'conn.connecting': '接続中…',
  'conn.live': 'ライブ',
  'conn.offline': 'オフライン:再接続中…',
  'conn.label': '接続状態',
  'attendee.ask.heading': '質問する',
  'attendee.ask.text': 'あなたの質問',
  'attendee.ask.name': 'お名前(任意)',
  'attendee.ask.submit': '質問を送信',
  'attendee.ask.counter': '{n} / {max}',
  'attendee.ask.counter.label': '{max}文字中{n}文字',
  'attendee.ask.tooLong': '{max}文字以内で入力してください。',
  'attendee.closed': '現在Q&Aは締め切られています。質問の閲覧といいねはできます。',
  'attendee.archived': 'このミートアップはアーカイブされました。質問は閲覧のみです。',
  'attendee.moderated': '質問は主催者が確認してから表示されます。',
  'attendee.sort.label': '質問の並び順',
  'attendee.sort.top': '人気順',
  'attendee.sort.recent': '新着順',
  'attendee.questions.heading': '質問',
  'attendee.answered.heading': '回答済み',
  'attendee.empty': 'まだ質問はありません。最初の質問をどうぞ!',
  'attendee.screenLink': 'スクリーン表示',
  'attendee.organizeLink': '主催者画面',
  'question.like': 'いいね',
  'question.unlike': 'いいね済み',
  'question.like.label': 'この質問にいいねする(いいね {n} 件)',
  'question.unlike.label': 'いいねを取り消す(いいね {n} 件)',
  'question.likes': 'いいね {n} 件',
  'question.anonymous': '匿名',
  'question.highlighted': '回答中',
  'question.answered': '回答済み',
  'question.mine': 'あなたの質問',
  'question.pendingReview': '確認待ち',
  'question.rejected': '主催者により非公開になりました',
  'question.sending': '送信待ち…',
  'question.failed': '送信できませんでした:{reason}',
  'question.edit': '編集',
  'question.edit.label': '質問を編集',
  'question.save': '保存',
  'question.cancel': 'キャンセル',
  'question.withdraw': '取り下げ',
  'question.withdraw.confirm': 'この質問を取り下げますか?',
  'question.withdraw.yes': '取り下げる',
  'question.postedAt': '{time} に質問',
  'outbox.pending': '送信待ち {n} 件',
  'error.generic': 'エラーが発生しました。もう一度お試しください。',
  'error.dismiss': '閉じる',
  'error.offline': 'サーバーに接続できません。接続を確認して、もう一度お試しください。',
  'error.conflict': '現在この操作はできません。Q&Aの締め切り、アーカイブ、または質問の変更が考えられます。',
  'error.forbidden': 'この操作は許可されていません。',
  'error.notFound': 'すでに存在しません。',
  'error.invalid': '入力内容を確認してください:{detail}',
  'error.busy': 'サーバーが混み合っています。しばらくしてからお試しください。',
  'screen.join': '参加はこちら',
  'screen.code': 'コード',
  'screen.qr': '{url} のQRコード',
  'screen.highlighted': '回答中の質問',
  'screen.top': '人気の質問',
  'screen.empty': 'コードを読み取って質問してください。',
  'screen.closed': 'Q&Aは締め切られました',
  'organize.heading': '主催者画面',
  'organize.keyOnce.heading': 'この主催者キーを保管してください',
  'organize.keyOnce.body': 'このキーが表示されるのは今だけです。このブラウザには保存されます。別の端末で主催するには安全な場所に保管してください。',
  'organize.keyOnce.label': '主催者キー',
  'organize.keyOnce.copy': 'キーをコピー',
  'organize.keyOnce.copied': 'コピーしました',
  'organize.keyOnce.done': '保管しました',
  'organize.keyOnce.device': '別の端末用のリンク(キーは # 以降にあり、サーバーには送信されません)',
  'organize.needKey.heading': '主催者キーが必要です',
  'organize.needKey.body': 'ミートアップ作成時に表示された主催者キーを貼り付けてください。',
  'organize.needKey.label': '主催者キー',
  'organize.needKey.submit': 'このキーを使う',
  'organize.needKey.wrong': 'このキーはこのミートアップの主催者キーではありません。',
  'organize.forget': 'このブラウザからキーを削除',
  'organize.settings.heading': '設定',
  'organize.settings.title': 'タイトル',
  'organize.settings.save': 'タイトルを保存',
  'organize.settings.qaOpen': 'Q&A受付中',
  'organize.settings.moderated': 'モデレーション(質問を先に確認)',
  'organize.settings.archive': 'ミートアップをアーカイブ…',
  'organize.settings.archive.confirm': 'アーカイブは取り消せません。以後、投稿・いいね・モデレーションはできなくなります。アーカイブしますか?',
  'organize.settings.archive.yes': 'アーカイブする',
  'organize.settings.archived': 'このミートアップはアーカイブ済みで、閲覧のみです。',
  'organize.links': '開く',
  'organize.queue.heading': '確認待ちの質問',
  'organize.queue.empty': '確認待ちの質問はありません。',
  'organize.queue.live': 'リアルタイム更新中',
  'organize.queue.polling': '数秒ごとに更新中',
  'organize.questions.heading': '公開中の質問',
  'organize.questions.empty': '公開中の質問はまだありません。',
  'organize.rejected.heading': '非公開にした質問',
  'organize.approve': '承認',
  'organize.reject': '却下',
  'organize.answer': '回答済みにする',
  'organize.reopen': '未回答に戻す',
  'organize.highlight': 'ハイライト',
  'organize.unhighlight': 'ハイライト解除',
  'organize.remove': '削除…',
  'organize.remove.reason': '削除の理由(任意)',
  'organize.remove.yes': '削除',
  'organize.action.label': '{action}:{text}',
  'organize.history.show': '履歴',
  'organize.history.hide': '履歴を閉じる',
  'organize.history.label': '履歴:{text}',
  'organize.history.loading': '履歴を読み込んでいます…',
  'organize.history.failed': '履歴を読み込めませんでした。もう一度お試しください。',
  'organize.history.more': 'ここには最初の 1,000 件だけを表示しています。すべてはエクスポートにあります。',
  'organize.history.organizer': '主催者',
  'organize.history.system': 'システム',
  'organize.history.participant': '参加者 {name}',
  'organize.history.event.QuestionPosted': '投稿',
  'organize.history.event.QuestionEdited': '投稿者が編集',
  'organize.history.event.QuestionWithdrawn': '投稿者が取り下げ',
  'organize.history.event.QuestionApproved': '承認',
  'organize.history.event.QuestionRejected': '却下',
  'organize.history.event.QuestionAnswered': '回答済みにした',
  'organize.history.event.QuestionReopened': '未回答に戻した',
  'organize.history.event.QuestionHighlighted': 'ハイライト',
  'organize.history.event.QuestionUnhighlighted': 'ハイライト解除',
  'organize.history.event.QuestionRemoved': '削除',
  'organize.history.event.VoteCast': 'いいね',
  'organize.history.event.VoteWithdrawn': 'いいねを取り消し',
  'organize.export.heading': 'エクスポート',
  'organize.export.body': '記録をダウンロードします:すべての質問・いいね・分ごとのアクティビティ・モデレーション操作と集計。参加者は仮名で表示されます。',
  'organize.export.xlsx': 'Excel ブック (.xlsx)',
  'organize.export.zip': 'CSV ファイル (.zip)',
  'organize.export.jsonl': 'JSON Lines (.jsonl)',
  'organize.export.report': 'レポート (.html)',
  'organize.export.working': '準備中…',
  'organize.export.done': '{file} を保存しました(イベント {position} まで)。',
  'organize.shortcuts.heading': 'キーボードショートカット',
  'organize.shortcuts.body': 'リスト内で:j / k 次 / 前の質問、a 承認、r 却下、d 回答済み・未回答に戻す、h ハイライト切替、x 削除。',
  'time.label': '{time}',
};

const TABLE = { en, ja };

function fromBrowser() {
  const wanted = (typeof navigator !== 'undefined' && navigator.languages) || [];
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return 'en';
}

function remembered() {
  try {
    const lang = localStorage.getItem(LANG_KEY);
    return LANGUAGES.includes(lang) ? lang : null;
  } catch {
    return null;
  }
}

let current = remembered() || fromBrowser();
const listeners = new Set();

/** The language in use. */
export function lang() {
  return current;
}

/** Switches language and remembers the choice in this browser. */
export function setLang(next) {
  if (!LANGUAGES.includes(next) || next === current) return;
  current = next;
  try {
    localStorage.setItem(LANG_KEY, next);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  document.documentElement.lang = next;
  listeners.forEach((fn) => fn(next));
}

/** Calls `fn` whenever the language changes; returns the unsubscribe function. */
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The string `key` in the current language, with `{name}` placeholders filled. */
export function t(key, params) {
  const text = TABLE[current][key] ?? en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** A time in the viewer's locale and time zone (today: time only). */
export function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const sameDay = date.toDateString() === new Date().toDateString();
  const options = sameDay ? { timeStyle: 'short' } : { dateStyle: 'medium', timeStyle: 'short' };
  return new Intl.DateTimeFormat(current, options).format(date);
}

/** Every key of the table, for the check that both languages are complete. */
export function keys(language) {
  return Object.keys(TABLE[language] || {});
}

document.documentElement.lang = current;
