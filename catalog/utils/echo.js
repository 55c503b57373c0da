// whisk.system/utils/echo: returns its input (openwhisk-catalog utils/echo).
function main(params) {
    return params || {};
}
